# metafor's escalc for the effect-size case of meta.py: reads the counts and means (CSV)
# from the file named first, writes yi and vi for each measure (CSV) to the file named second.
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
out <- data.frame(row = seq_len(nrow(d)))
for (m in c("RR", "OR", "RD")) {
  e <- escalc(measure = m, ai = d$a, bi = d$b, ci = d$c, di = d$d)
  out[[paste0(m, "_yi")]] <- as.numeric(e$yi); out[[paste0(m, "_vi")]] <- as.numeric(e$vi)
}
e <- escalc(measure = "SMD", m1i = d$m1, sd1i = d$s1, n1i = d$n1, m2i = d$m2, sd2i = d$s2, n2i = d$n2)
out$SMD_yi <- as.numeric(e$yi); out$SMD_vi <- as.numeric(e$vi)
write.csv(out, args[2], row.names = FALSE)
