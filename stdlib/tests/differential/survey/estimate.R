# R's survey package for each case of survey.py: reads the cases (JSON) from the file
# named first, writes each one's estimates (JSON) to the file named second. A case whose
# design R refuses (a lonely PSU with lonely_psu = "fail") is marked refused.
suppressPackageStartupMessages({ library(survey); library(jsonlite) })
args <- commandArgs(trailingOnly = TRUE)
cases <- fromJSON(args[1], simplifyVector = FALSE)
svystat <- function(s) {
  list(estimate = as.numeric(coef(s)), se = as.numeric(SE(s)),
       deff = if (is.null(attr(s, "deff"))) NULL else as.numeric(diag(as.matrix(attr(s, "deff")))))
}
results <- lapply(cases, function(case) {
  options(survey.lonely.psu = case$lonely)
  d <- read.csv(case$path)
  d$g <- factor(d$g)
  f <- function(name) if (isTRUE(case[[name]])) as.formula(paste0("~", switch(name,
    psu = "cl", strata = "st", weights = "w", fpc = "N"))) else NULL
  result <- tryCatch(suppressWarnings({
    des <- svydesign(ids = if (isTRUE(case$psu)) ~cl else ~1, strata = f("strata"),
                     weights = f("weights"), fpc = f("fpc"), data = d, nest = TRUE)
    if (isTRUE(case$domain)) des <- subset(des, u > 0.3)
    q <- svyquantile(~x, des, unlist(case$probs), na.rm = TRUE, ci = TRUE)$x
    out <- list(refused = FALSE,
                mean = svystat(svymean(~x, des, na.rm = TRUE, deff = TRUE)),
                total = svystat(svytotal(~x, des, na.rm = TRUE, deff = TRUE)),
                proportion = c(svystat(svymean(~g, des, na.rm = TRUE, deff = TRUE)),
                               list(levels = levels(d$g))),
                quantile = list(estimate = as.numeric(q[, 1]), low = as.numeric(q[, 2]),
                                high = as.numeric(q[, 3]), se = as.numeric(q[, 4])),
                df = degf(des))
    # Tight IRLS, so that R's weights (from the step before the last) are at the optimum.
    fit <- summary(svyglm(x ~ z + g, des, control = glm.control(epsilon = 1e-14, maxit = 200)))$coefficients
    high <- summary(svyglm(I(x > 10) ~ z, des, family = quasibinomial(),
                            control = glm.control(epsilon = 1e-14, maxit = 200)))$coefficients
    out$model <- list(estimate = as.numeric(fit[, 1]), se = as.numeric(fit[, 2]), p = as.numeric(fit[, 4]),
                      df = degf(des) + 1 - nrow(fit))
    out$logit <- list(estimate = as.numeric(high[, 1]), se = as.numeric(high[, 2]), p = as.numeric(high[, 4]))
    if (isTRUE(case$by)) {
      bm <- svyby(~x, ~h, des, svymean, na.rm = TRUE, deff = TRUE)
      bt <- svyby(~x, ~h, des, svytotal, na.rm = TRUE, deff = TRUE)
      out$by <- list(groups = as.character(bm$h),
                     mean = as.numeric(bm$x), mean_se = as.numeric(SE(bm)), mean_deff = as.numeric(deff(bm)),
                     total = as.numeric(bt$x), total_se = as.numeric(SE(bt)), total_deff = as.numeric(deff(bt)))
    }
    out
  }), error = function(e) list(refused = TRUE, why = conditionMessage(e)))
  result
})
writeLines(toJSON(results, auto_unbox = TRUE, digits = NA, na = "null"), args[2])
