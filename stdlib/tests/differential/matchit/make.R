# How matchit.json was made: R's MatchIt 4.7.2 (not Debian's 4.5.1, whose nearest-
# neighbour matching ignores calipers and always takes the lower neighbour: its C++ calls
# the integer abs() on doubles; fixed upstream in 4.5.4) on examples/data/nsw_cps.csv,
# with the effect as MatchIt's vignette estimates it: lm(re78 ~ treat, weights) on the
# matched data, cluster-robust by pair (sandwich's vcovCL, HC1) without replacement and
# HC3 with it.
# Usage: R_LIBS=<a library holding MatchIt >= 4.5.4> Rscript make.R examples/data/nsw_cps.csv OUT.json
suppressPackageStartupMessages({
  library(MatchIt); library(sandwich); library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
nsw <- read.csv(args[1])
f <- treat ~ age + educ + black + hisp + marr + nodegree + re74 + re75
cps <- nsw[nsw$treat == 1 | nsw$sample == "CPS", ]
rownames(cps) <- NULL
exper <- nsw[nsw$sample == "NSW", ]
rownames(exper) <- NULL

run <- function(name, sample, data, ...) {
  m <- matchit(f, data = data, method = "nearest", distance = "glm", ...)
  md <- match_data(m)
  fit <- lm(re78 ~ treat, data = md, weights = weights)
  replace <- isTRUE(list(...)$replace)
  v <- if (replace) vcovHC(fit, type = "HC3") else vcovCL(fit, cluster = ~subclass)
  mm <- m$match.matrix
  controls <- lapply(seq_len(nrow(mm)), function(i) {
    ids <- mm[i, ]
    as.integer(ids[!is.na(ids)])
  })
  list(
    name = name, sample = sample, options = list(...),
    matchit_version = as.character(packageVersion("MatchIt")),
    treated_rows = as.integer(rownames(mm)),
    controls = controls,
    caliper_width = if (is.null(m$caliper)) NULL else unname(m$caliper),
    estimate = unname(coef(fit)["treat"]),
    std_error = sqrt(v["treat", "treat"])
  )
}

results <- list(
  run("CPS 1:1", "cps", cps),
  run("CPS caliper 0.2", "cps", cps, caliper = 0.2),
  run("CPS 1:2", "cps", cps, ratio = 2),
  run("CPS 1:3 caliper 0.1", "cps", cps, ratio = 3, caliper = 0.1),
  run("CPS with replacement", "cps", cps, replace = TRUE),
  run("CPS 1:2 with replacement", "cps", cps, ratio = 2, replace = TRUE),
  run("experiment 1:1", "experiment", exper),
  run("experiment 1:2 caliper 0.25", "experiment", exper, ratio = 2, caliper = 0.25)
)
writeLines(toJSON(results, auto_unbox = TRUE, digits = NA, null = "null"), args[2])
