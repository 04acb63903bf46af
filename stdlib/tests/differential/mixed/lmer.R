# R's lme4 for each case of mixed.py: reads the cases (JSON) from the file named first,
# writes each one's fit (JSON) to the file named second; a model lme4 refuses (more
# random effects than rows) is marked refused. The optimiser is held to tight
# tolerances so that both tools stop at the optimum itself, not near it.
suppressPackageStartupMessages({ library(lme4); library(jsonlite) })
args <- commandArgs(trailingOnly = TRUE)
cases <- fromJSON(args[1], simplifyVector = FALSE)
control <- lmerControl(optimizer = "nloptwrap", calc.derivs = FALSE,
                       optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, xtol_rel = 0,
                                      ftol_rel = 0, maxeval = 1e5),
                       check.conv.singular = "ignore")
results <- lapply(cases, function(case) {
  d <- read.csv(case$path, colClasses = c(g = "character", h = "character", c = "character",
                                          f = "character"))
  m <- tryCatch(lmer(as.formula(case$formula), data = d, REML = case$reml, control = control),
                error = function(e) conditionMessage(e))
  if (is.character(m)) return(list(refused = TRUE, why = m))
  vc <- as.data.frame(VarCorr(m))
  re <- as.data.frame(ranef(m))
  list(refused = FALSE, terms = names(fixef(m)), estimate = as.numeric(fixef(m)),
       se = as.numeric(sqrt(diag(as.matrix(vcov(m))))),
       vc = list(grp = vc$grp, var1 = ifelse(is.na(vc$var1), "", vc$var1),
                 var2 = ifelse(is.na(vc$var2), "", vc$var2), sdcor = vc$sdcor),
       sigma = sigma(m), criterion = if (case$reml) REMLcrit(m) else deviance(m),
       aic = AIC(m), singular = isSingular(m), theta = as.numeric(getME(m, "theta")),
       ranef = list(grpvar = as.character(re$grpvar), term = as.character(re$term),
                    grp = as.character(re$grp), condval = re$condval, condsd = re$condsd),
       fitted = as.numeric(fitted(m)), population = as.numeric(predict(m, re.form = NA)))
})
writeLines(toJSON(results, auto_unbox = TRUE, digits = NA, na = "null"), args[2])
