# metafor's rma for each case of meta.py: reads the cases (JSON) from the file named
# first, writes each one's results (JSON) to the file named second. REML and Paule–Mandel
# are solved to tight tolerances, so that the comparison is of the estimators, not of
# where metafor's default iterations stop.
suppressPackageStartupMessages({ library(metafor); library(jsonlite) })
args <- commandArgs(trailingOnly = TRUE)
cases <- fromJSON(args[1], simplifyVector = FALSE)
results <- lapply(cases, function(case) {
  y <- unlist(case$y); v <- unlist(case$se)^2
  fit <- tryCatch(suppressWarnings(
    rma(yi = y, vi = v, method = case$method, test = if (case$hk) "knha" else "z",
        level = 100 * case$level,
        control = list(threshold = 1e-12, maxiter = 10000, tol = 1e-12))),
    error = function(e) NULL)
  if (is.null(fit)) return(list(refused = TRUE))
  p <- predict(fit)
  loo <- suppressWarnings(leave1out(fit))
  egger <- if (length(y) >= 3) suppressWarnings(regtest(fit, model = "lm")) else NULL
  groups <- unlist(case$group)
  parts <- lapply(split(seq_along(y), groups), function(i) tryCatch(suppressWarnings(
    rma(yi = y[i], vi = v[i], method = case$method, test = if (case$hk) "knha" else "z",
        level = 100 * case$level, control = list(threshold = 1e-12, maxiter = 10000, tol = 1e-12))),
    error = function(e) NULL))
  pooled_parts <- Filter(Negate(is.null), parts)
  between <- if (length(pooled_parts) > 1) {
    b <- sapply(pooled_parts, function(f) as.numeric(f$b)); s <- sapply(pooled_parts, function(f) f$se)
    g <- rma(b, sei = s, mods = ~ factor(names(b)), method = "FE")
    list(Q = g$QM, p = g$QMp)
  } else NULL
  list(refused = FALSE, b = as.numeric(fit$b), se = fit$se, stat = fit$zval, pval = fit$pval,
       ci_lb = fit$ci.lb, ci_ub = fit$ci.ub, pi_lb = p$pi.lb, pi_ub = p$pi.ub,
       tau2 = fit$tau2, I2 = fit$I2, H2 = fit$H2, Q = fit$QE, Qp = fit$QEp,
       weights = as.numeric(weights(fit)),
       loo = list(estimate = as.numeric(loo$estimate), se = as.numeric(loo$se),
                  tau2 = as.numeric(loo$tau2), Q = as.numeric(loo$Q)),
       egger = if (is.null(egger)) NULL else list(t = egger$zval, p = egger$pval, limit = as.numeric(egger$est)),
       parts = lapply(parts, function(f) if (is.null(f)) NULL else list(b = as.numeric(f$b), se = f$se, tau2 = f$tau2)),
       between = between)
})
writeLines(toJSON(results, auto_unbox = TRUE, digits = NA, na = "null"), args[2])
