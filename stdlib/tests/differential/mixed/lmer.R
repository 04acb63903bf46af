# R's lme4 (lmer, or glmer for a logit, probit or Poisson case, with trials as cbind(y, t - y)) for each case of mixed.py: reads the cases (JSON) from the file named first,
# writes each one's fit (JSON) to the file named second; a model lme4 refuses (more
# random effects than rows) is marked refused. The optimiser is held to tight
# tolerances so that both tools stop at the optimum itself, not near it, and its random
# seed fixed (nloptr seeds from the clock by default, and lme4's fits then vary from run to
# run where the criterion is flat).
suppressPackageStartupMessages({ library(lme4); library(jsonlite) })
args <- commandArgs(trailingOnly = TRUE)
cases <- fromJSON(args[1], simplifyVector = FALSE)
control <- lmerControl(optimizer = "nloptwrap", calc.derivs = FALSE,
                       optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, xtol_rel = 0,
                                      ftol_rel = 0, maxeval = 1e5, ranseed = 1),
                       check.conv.singular = "ignore")
glm_control <- glmerControl(optimizer = "nloptwrap", tolPwrss = 1e-10,
                            optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, xtol_rel = 0,
                                           ftol_rel = 0, maxeval = 1e5, ranseed = 1),
                            check.conv.singular = "ignore", check.conv.grad = "ignore",
                            check.conv.hess = "ignore")
# The Laplace criterion computed exactly, independently of lme4's PIRLS (whose stopping
# rule leaves L at weights a step behind the modes, about 1e-4 in the deviance): the modes
# by Newton steps to 1e-12, then −2 log f(y | μ) + ‖u‖² + log |Λ'Z'WZΛ + I| at them.
exact <- function(m, theta, beta) {
  X <- getME(m, "X"); Lt <- getME(m, "Lambdat"); y <- getME(m, "y"); fam <- family(m)
  trials <- m@resp$weights  # prior weights: a binomial row's trials, y their share
  Lt@x <- theta[getME(m, "Lind")]
  ZL <- as.matrix(t(Lt %*% getME(m, "Zt")))
  off <- m@resp$offset + as.vector(X %*% beta); u <- rep(0, ncol(ZL))
  for (it in 1:500) {
    eta <- off + as.vector(ZL %*% u); mu <- fam$linkinv(eta); d <- fam$mu.eta(eta)
    w <- trials * d^2 / fam$variance(mu)
    A <- crossprod(ZL * sqrt(w)) + diag(ncol(ZL))
    unew <- as.vector(solve(A, crossprod(ZL, w * ((eta - off) + (y - mu) / d))))
    done <- max(abs(unew - u)) < 1e-12
    u <- unew
    if (done) break
  }
  eta <- off + as.vector(ZL %*% u); mu <- fam$linkinv(eta); d <- fam$mu.eta(eta)
  A <- crossprod(ZL * sqrt(trials * d^2 / fam$variance(mu))) + diag(ncol(ZL))
  loglik <- if (fam$family == "poisson") dpois(y, mu, log = TRUE) else
    dbinom(round(trials * y), trials, mu, log = TRUE)
  -2 * sum(loglik) + sum(u^2) + as.numeric(determinant(A)$modulus)
}
# The exact criterion minimised from lme4's estimates (θ on lme4's bounds; from off zero too
# where lme4 put a variance at zero), with the fixed
# effects' standard errors from its finite-difference Hessian over θ and β, as lme4's vcov.
exact_fit <- function(m) {
  nth <- length(getME(m, "theta")); start <- c(getME(m, "theta"), fixef(m))
  f <- function(p) exact(m, p[1:nth], p[-(1:nth)])
  search <- function(start)
    nlminb(start, f, lower = c(getME(m, "lower"), rep(-Inf, length(fixef(m)))),
           control = list(rel.tol = 1e-15, x.tol = 1e-12, eval.max = 1e4, iter.max = 1e4))
  opt <- search(start)
  # A variance at zero is a stationary point of the criterion whether or not it is the
  # minimum (the slopes there are flat by symmetry), so search again from off zero.
  if (any(getME(m, "theta") == 0)) {
    away <- search(c(pmax(getME(m, "theta"), 0.1), fixef(m)))
    if (away$objective < opt$objective) opt <- away
  }
  h <- optimHess(opt$par, f, control = list(ndeps = rep(1e-4, length(opt$par))))
  v <- tryCatch(solve(h / 2), error = function(e) NULL)
  beta <- opt$par[-(1:nth)]
  se <- if (is.null(v)) rep(NA, length(beta)) else sqrt(diag(v)[-(1:nth)])
  list(estimate = beta, se = se, criterion = opt$objective, theta = opt$par[1:nth],
       single = length(getME(m, "flist")) == 1 && nth == 1)
}
results <- lapply(cases, function(case) {
  d <- read.csv(case$path, colClasses = c(g = "character", h = "character", c = "character",
                                          f = "character"))
  family <- switch(case$family, ols = NULL, logit = binomial(), probit = binomial(link = "probit"),
                   poisson = poisson())
  m <- tryCatch(if (is.null(family)) {
    lmer(as.formula(case$formula), data = d, REML = case$reml, control = control)
  } else {
    glmer(as.formula(case$formula), data = d, family = family, control = glm_control)
  }, error = function(e) conditionMessage(e))
  if (is.character(m)) return(list(refused = TRUE, why = m))
  vc <- as.data.frame(VarCorr(m))
  re <- as.data.frame(ranef(m))
  list(refused = FALSE, terms = names(fixef(m)), estimate = as.numeric(fixef(m)),
       se = as.numeric(sqrt(diag(as.matrix(vcov(m))))),
       vc = list(grp = vc$grp, var1 = ifelse(is.na(vc$var1), "", vc$var1),
                 var2 = ifelse(is.na(vc$var2), "", vc$var2), sdcor = vc$sdcor),
       sigma = sigma(m),
       criterion = if (isGLMM(m)) -2 * as.numeric(logLik(m)) else if (case$reml) REMLcrit(m) else deviance(m),
       aic = AIC(m), singular = isSingular(m), theta = as.numeric(getME(m, "theta")),
       ranef = list(grpvar = as.character(re$grpvar), term = as.character(re$term),
                    grp = as.character(re$grp), condval = re$condval, condsd = re$condsd),
       exact = if (isGLMM(m)) exact_fit(m) else NULL,
       fitted = as.numeric(fitted(m)),
       population = as.numeric(predict(m, re.form = NA, type = "response")))
})
writeLines(toJSON(results, auto_unbox = TRUE, digits = NA, na = "null"), args[2])
