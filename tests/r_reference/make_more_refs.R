# More reference results from R's survival package: the judge of imet_core.survival.
# Usage: Rscript make_more_refs.R OUTDIR      (e.g. from tests/r_reference: Rscript make_more_refs.R more)
# Needs Debian packages r-base-core (R 4.2), r-cran-survival (3.5-3), r-cran-jsonlite; no CRAN.
#
# The JSON layout extends the one of ../shared/make_refs.R (see README.md beside this file), so one
# harness (tests/test_survival_r.py) reads both. Every block carries `call`: the R expression that was
# evaluated, verbatim, with `data = <case name>` standing for the case's CSV.
#
# Each case's data is written to CSV and READ BACK before anything is computed, so R works on exactly the
# numbers (15 significant digits) that the Python side reads.
suppressMessages({library(survival); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args) >= 1) args[1] else "more"
dir.create(out, showWarnings = FALSE, recursive = TRUE)
RNGversion("4.2.0")

# ---- helpers ---------------------------------------------------------------------------------------

# Evaluate a call string with the case's data bound to the case's name; the string is what we record.
run <- function(call, name, data) {
  env <- new.env(parent = globalenv())
  assign(name, data, envir = env)
  eval(parse(text = call), envir = env)
}
surv_lhs <- function(time, event, entry = NULL) {
  if (is.null(entry)) sprintf("Surv(%s, %s)", time, event) else sprintf("Surv(%s, %s, %s)", entry, time, event)
}
opt <- function(...) {            # ", a = b" pieces for the optional arguments that are set
  x <- c(...)
  if (length(x) == 0) "" else paste0(", ", x, collapse = "")
}
weights_arg <- function(weights) if (is.null(weights)) NULL else sprintf("weights = %s", weights)
one_row <- function(tab) if (is.null(dim(tab))) t(as.matrix(tab)) else tab
strata_names <- function(fit) if (is.null(fit$strata)) "all" else sub(".*=", "", names(fit$strata))

km_table <- function(fit) {
  strata <- if (is.null(fit$strata)) rep("all", length(fit$time)) else rep(strata_names(fit), fit$strata)
  data.frame(stratum = strata, time = fit$time, at_risk = fit$n.risk, events = fit$n.event,
             censored = fit$n.censor, survival = fit$surv, lower = fit$lower, upper = fit$upper,
             std_err = fit$std.err)
}
# survfit for each confidence-interval type: the table, medians with their CIs, strata order.
km_block <- function(rhs, r, name, data) {
  res <- list()
  for (ct in c("log", "log-log", "plain")) {
    call <- sprintf('survfit(%s ~ %s, data = %s, conf.type = "%s"%s)', r$lhs, rhs, name, ct, opt(weights_arg(r$weights)))
    fit <- run(call, name, data)
    tab <- one_row(summary(fit)$table)
    res[[ct]] <- list(table = km_table(fit), median = unname(tab[, "median"]),
                      median_lower = unname(tab[, "0.95LCL"]), median_upper = unname(tab[, "0.95UCL"]),
                      strata = strata_names(fit), std_err_of = if (fit$logse) "log_survival" else "survival",
                      call = call)
  }
  res
}
# Restricted mean survival time for several tau, as print(survfit(...), rmean = tau).
rmst_block <- function(rhs, r, name, data, taus) {
  lapply(taus, function(tau) {
    call <- sprintf('summary(survfit(%s ~ %s, data = %s%s), rmean = %s)$table',
                    r$lhs, rhs, name, opt(weights_arg(r$weights)), format(tau, digits = 15))
    tab <- one_row(run(call, name, data))
    fit <- run(sprintf("survfit(%s ~ %s, data = %s%s)", r$lhs, rhs, name, opt(weights_arg(r$weights))), name, data)
    list(tau = tau, scope = if (rhs == "1") "overall" else "by_group", strata = strata_names(fit),
         estimate = unname(tab[, "rmean"]), se = unname(tab[, "se(rmean)"]), call = call)
  })
}
# One coxph fit. `se` is the robust (sandwich) SE when the fit is robust, as in make_refs.R.
cox_block <- function(terms, r, name, data, ties = "efron", robust = FALSE, strata = NULL, cluster = NULL,
                      lhs = r$lhs, time = r$time, event = r$event, entry = r$entry) {
  rhs <- paste(c(terms, if (!is.null(strata)) sprintf("strata(%s)", strata)), collapse = " + ")
  call <- sprintf('coxph(%s ~ %s, data = %s, ties = "%s"%s)', lhs, rhs, name, ties,
                  opt(weights_arg(r$weights), if (robust) "robust = TRUE",
                      if (!is.null(cluster)) sprintf("cluster = %s", cluster)))
  fit <- run(call, name, data)
  s <- summary(fit)
  co <- s$coefficients
  robust_se <- "robust se" %in% colnames(co)
  stopifnot(identical(rownames(co), terms))          # numeric columns only: R's term names = column names
  list(terms = rownames(co), coef = unname(co[, "coef"]), se = unname(co[, if (robust_se) "robust se" else "se(coef)"]),
       hr = unname(co[, "exp(coef)"]), hr_lower = unname(s$conf.int[, "lower .95"]),
       hr_upper = unname(s$conf.int[, "upper .95"]), z = unname(co[, "z"]),
       p = unname(co[, "Pr(>|z|)"]), loglik = unname(fit$loglik[2]),
       concordance = unname(fit$concordance["concordance"]), n = fit$n, events = fit$nevent,
       ties = ties, robust = robust_se, naive_se = unname(co[, "se(coef)"]),
       time = time, event = event, entry = entry, weights = r$weights, strata = strata, cluster = cluster,
       call = call)
}
# survdiff; df as print.survdiff counts it (groups with a positive expected count, minus one).
lr_block <- function(group, r, name, data, rho = 0, strata = NULL) {
  rhs <- paste(c(group, if (!is.null(strata)) sprintf("strata(%s)", strata)), collapse = " + ")
  call <- sprintf("survdiff(%s ~ %s, data = %s, rho = %s)", r$lhs, rhs, name, rho)
  d <- run(call, name, data)
  e <- if (is.matrix(d$obs)) rowSums(d$exp) else d$exp
  dof <- sum(e > 0) - 1
  list(statistic = d$chisq, dof = dof, p = pchisq(d$chisq, dof, lower.tail = FALSE), rho = rho,
       group = group, strata = strata, call = call)
}
zph_block <- function(cox) {
  call <- sprintf('cox.zph(%s, transform = "km")', cox$call)
  list(call = call, fit_call = cox$call, transform = "km")
}
zph_fill <- function(block, name, data) {
  z <- run(block$call, name, data)
  c(block, list(terms = rownames(z$table), chisq = unname(z$table[, "chisq"]),
                df = unname(z$table[, "df"]), p = unname(z$table[, "p"])))
}

# ---- one case --------------------------------------------------------------------------------------
# group: the column whose levels make the KM strata and the log-rank groups (any type);
# group_terms: the numeric (0/1 dummy or numeric) columns that stand for `group` in Cox models.
case <- function(name, data, time, event, group, covariates, group_terms = group, entry = NULL,
                 weights = NULL, taus = NULL, stratified = NULL, counting = NULL, cox = TRUE, note = "") {
  cols <- unique(c("id", time, event, entry, group, group_terms, covariates, weights,
                   stratified$group, stratified$strata, stratified$terms, counting$cluster))
  cols <- cols[cols %in% names(data)]
  data <- data[complete.cases(data[, cols]), cols]
  path <- file.path(out, paste0(name, ".csv"))
  write.csv(data, path, row.names = FALSE)
  data <- read.csv(path, stringsAsFactors = FALSE, check.names = FALSE)
  stopifnot(all(data[[time]] > if (is.null(entry)) 0 else data[[entry]]))

  r <- list(lhs = surv_lhs(time, event, entry), time = time, event = event, entry = entry, weights = weights)
  robust <- !is.null(weights)
  # coxph wants an id or cluster for robust SE with (start, stop] data; one row per patient here, so
  # cluster = id gives the per-row sandwich, the same as robust = TRUE without entry.
  rcl <- if (robust && !is.null(entry)) "id" else NULL
  ref <- list(name = name, note = note, time = time, event = event, group = group, group_terms = group_terms,
              covariates = covariates, entry = entry, weights = weights,
              r_version = R.version.string, survival_version = as.character(packageVersion("survival")),
              km_overall = km_block("1", r, name, data), km_by_group = km_block(group, r, name, data))
  if (cox) {
    ref$cox_univariable <- cox_block(group_terms, r, name, data, "efron", robust, cluster = rcl)
    ref$cox_multivariable <- cox_block(c(group_terms, covariates), r, name, data, "efron", robust, cluster = rcl)
    ref$cox_multivariable_breslow <- cox_block(c(group_terms, covariates), r, name, data, "breslow", robust, cluster = rcl)
    ref$cox_zph <- zph_fill(zph_block(ref$cox_multivariable), name, data)
  }
  if (is.null(entry) && is.null(weights)) {        # survdiff has neither delayed entry nor case weights
    ref$logrank <- lr_block(group, r, name, data, rho = 0)
    ref$logrank_rho1 <- lr_block(group, r, name, data, rho = 1)
  }
  if (!is.null(stratified)) {
    ref$logrank_stratified <- lr_block(stratified$group, r, name, data, rho = 0, strata = stratified$strata)
    ref$cox_stratified <- cox_block(stratified$terms, r, name, data, "efron", robust, strata = stratified$strata, cluster = rcl)
  }
  if (!is.null(counting)) {                        # the same model with model-based and cluster-robust SE
    terms <- c(group_terms, covariates)
    ref$cox_counting_process <- list(cox_block(terms, r, name, data, "efron", FALSE),
                                     cox_block(terms, r, name, data, "efron", FALSE, cluster = counting$cluster))
  }
  if (!is.null(taus)) ref$rmst <- c(rmst_block("1", r, name, data, taus), rmst_block(group, r, name, data, taus))
  writeLines(toJSON(ref, digits = NA, auto_unbox = TRUE, dataframe = "columns", na = "null", null = "null"),
             file.path(out, paste0(name, ".expected.json")))
  cat(sprintf("%-26s %5d rows  %s\n", name, nrow(data), paste(setdiff(names(ref), c("name", "note")), collapse = " ")))
}
# tau values: the first quartile and the median of the observed times (observed times: ties with tau),
# the last time, and a tau beyond the last time.
default_taus <- function(time) unname(c(quantile(time, c(0.25, 0.5), type = 1), max(time), ceiling(1.25 * max(time))))
dummies <- function(data, column, prefix = column) {
  levels <- sort(unique(data[[column]]))
  for (lv in levels[-1]) data[[paste0(prefix, "_", gsub("[^A-Za-z0-9]", "", lv))]] <- as.integer(data[[column]] == lv)
  data
}
stabilised_iptw <- function(data, treat, covs) {
  ps <- fitted(glm(as.formula(paste(treat, "~", paste(covs, collapse = "+"))), data = data, family = binomial))
  p1 <- mean(data[[treat]]); ifelse(data[[treat]] == 1, p1 / ps, (1 - p1) / (1 - ps))
}

# ---- the cases -------------------------------------------------------------------------------------

# lung: days, many ties, ph.ecog as a 4-level group (one patient in level 3).
lung2 <- within(lung, { id <- seq_along(time); dead <- status - 1L
                        ecog1 <- as.integer(ph.ecog == 1); ecog2 <- as.integer(ph.ecog == 2); ecog3 <- as.integer(ph.ecog == 3) })
case("lung", lung2, "time", "dead", "ph.ecog", c("age", "sex", "ph.karno"), group_terms = c("ecog1", "ecog2", "ecog3"),
     taus = default_taus(lung2$time),
     stratified = list(group = "sex", strata = "ph.ecog", terms = c("sex", "age", "ph.karno")),
     note = "NCCTG lung cancer: days; ph.ecog 0-3 as a 4-group factor (k-group log-rank; Cox with 0/1 dummies ecog1-3)")

# rounded times: lung in whole months -> about 35 distinct times for 227 patients (heavy ties).
lung_m <- within(lung2, months <- ceiling(time / 30.4375))
case("lung_months_ties", lung_m, "months", "dead", "sex", c("age", "ph.ecog", "ph.karno"), taus = default_taus(lung_m$months),
     note = "lung with times rounded up to whole months: heavy ties (Efron and Breslow differ, ties of events and censorings)")

# veteran: celltype 4 groups; the last observation (999 days) is an event, so S drops to 0.
vet <- within(veteran, id <- seq_along(time))
vet$celltype <- as.character(vet$celltype)
vet <- dummies(vet, "celltype")
case("veteran", vet, "time", "status", "celltype", c("karno", "age", "trt"),
     group_terms = c("celltype_large", "celltype_smallcell", "celltype_squamous"), taus = default_taus(vet$time),
     stratified = list(group = "trt", strata = "celltype", terms = c("trt", "karno", "age")),
     note = "VA lung cancer trial: celltype as 4 groups (dummies vs adeno), karno; last observation is an event (S = 0)")

# aml: tiny, ties, medians' upper limits not reached; Nonmaintained ends with an event.
aml2 <- within(aml, { id <- seq_along(time); x <- as.character(x); nonmaintained <- as.integer(x == "Nonmaintained") })
case("aml", aml2, "time", "status", "x", character(0), group_terms = "nonmaintained", taus = default_taus(aml2$time),
     note = "AML maintenance chemotherapy: 23 patients, ties, median upper confidence limits not reached")

# ovarian: tiny, covariates.
ova <- within(ovarian, id <- seq_along(futime))
case("ovarian", ova, "futime", "fustat", "rx", c("age", "resid.ds", "ecog.ps"), taus = default_taus(ova$futime),
     note = "Ovarian cancer trial: 26 patients, rx 1/2 used as numeric (HR per unit = rx 2 vs 1)")

# colon: one endpoint (death, etype 2), rx in 3 groups.
col <- subset(colon, etype == 2)
col$rx <- as.character(col$rx)
col <- dummies(col, "rx")
case("colon_death", col, "time", "status", "rx", c("age", "sex", "obstruct", "nodes"), group_terms = c("rx_Lev5FU", "rx_Obs"),
     taus = default_taus(col$time),
     stratified = list(group = "rx", strata = "sex", terms = c("rx_Lev5FU", "rx_Obs", "age", "nodes")),
     note = "Colon cancer adjuvant trial, death endpoint (etype 2): rx Obs / Lev / Lev+5FU (dummies vs Lev)")

# pbc: the 312 randomised patients, death (status 2; transplant censored), trt.
p <- subset(pbc, !is.na(trt))
p <- within(p, { death <- as.integer(status == 2); log_bili <- log(bili); log_albumin <- log(albumin); log_protime <- log(protime) })
case("pbc", p, "time", "death", "trt", c("age", "edema", "log_bili", "log_albumin", "log_protime"), taus = default_taus(p$time),
     stratified = list(group = "trt", strata = "stage", terms = c("trt", "age", "log_bili")),
     note = "Mayo PBC, the 312 randomised patients: death (transplant censored), trt 1/2 numeric; Mayo-model covariates")

# rotterdam: large (2933 rows), death.
rot <- subset(rotterdam, year >= 1982)
rot$id <- rot$pid
rot <- within(rot, { size_20_50 <- as.integer(size == "20-50"); size_gt50 <- as.integer(size == ">50") })
case("rotterdam", rot, "dtime", "death", "chemo", c("age", "meno", "size_20_50", "size_gt50", "grade", "nodes", "pgr", "er", "hormon"),
     taus = default_taus(rot$dtime),
     note = "Rotterdam breast cancer, registered 1982 or later (2933 of 2982): overall survival in days, chemo")

# Small constructed case: S exactly 0.5 on a plateau (median is a midpoint), tied events at the last time
# (S drops to 0 in both groups and overall), an event tied with a censoring.
edge <- data.frame(id = 1:20,
                   time = c(1:10, 2, 3, 4, 4, 6, 7, 7, 9, 12, 12),
                   status = c(rep(1, 10), 1, 0, 1, 1, 0, 1, 0, 1, 1, 1),
                   arm = rep(c("a", "b"), each = 10),
                   x = c(0.5, 1.2, -0.3, 0.8, 0.1, -1.1, 0.4, 2.0, -0.7, 0.9, 1.5, -0.2, 0.3, -1.4, 0.6, 1.1, -0.5, 0.2, -0.9, 0.0))
edge$arm_b <- as.integer(edge$arm == "b")
case("edge_last_event", edge, "time", "status", "arm", "x", group_terms = "arm_b", taus = c(4, 5, 10, 12, 15),
     note = "Constructed: S = 0.5 exactly on a plateau in arm a (median = midpoint 5.5), tied events at the last time (S = 0)")

# The same with non-integer weights: the whole risk set fails at the last time, so S must be exactly 0
# (weighted sums must not leave a rounding residue), and R's robust std.err is 0 there.
edge_w <- edge
edge_w$w <- c(1.55370368, 1.6441993, 1.52714337, 1.52714337, 3, 4.2594067, 5, 1, 1, 1 / 3,
              0.7, 2.25, 1.1, 0.35, 1.9, 2.6, 0.45, 1.3, 0.85, 4 / 3)
case("edge_last_event_weighted", edge_w, "time", "status", "arm", "x", group_terms = "arm_b", weights = "w",
     taus = c(4, 5, 10, 12, 15),
     note = "edge_last_event with non-integer weights: S = 0 exactly after tied final events; robust SE 0 there")

# One group entirely censored (Cox would diverge, so no Cox blocks here).
set.seed(20240601)
cg <- data.frame(id = 1:60, arm = rep(c("A", "B", "C"), each = 20),
                 time = round(c(rexp(20, 1 / 10), rexp(20, 1 / 20), runif(20, 1, 30)), 2),
                 status = c(rbinom(40, 1, 0.7), rep(0, 20)))
case("censored_group", cg, "time", "status", "arm", character(0), cox = FALSE, taus = c(5, 10, max(cg$time), 40),
     note = "Constructed: arm C has no event at all (KM stays at 1, median not reached; log-rank with a zero-event group)")

# Delayed entry 1: half the patients enter exactly at some earlier event time (Surv(entry, time] excludes them
# from the risk set at that event time).
set.seed(7)
vte <- vet
evt <- sort(unique(vte$time[vte$status == 1]))
vte$entry <- 0
for (i in sample(nrow(vte), nrow(vte) %/% 2)) {
  cand <- evt[evt < vte$time[i]]
  if (length(cand)) vte$entry[i] <- cand[sample.int(length(cand), 1)]
}
case("veteran_entry_ties", vte, "time", "status", "trt", c("karno", "age"), entry = "entry", taus = default_taus(vte$time),
     note = "veteran with delayed entry; entry times equal to other patients' event times: Surv(entry, time, status)")

# Delayed entry 2: everyone but one patient enters late, so the early risk sets hold only 2-5 patients.
set.seed(3)
pe <- p
pe$entry <- round(pe$time * runif(nrow(pe), 0.5, 0.95))
pe$entry[which.max(pe$time)] <- 0
case("pbc_entry_small_riskset", pe, "time", "death", "trt", c("age", "log_bili"), entry = "entry", taus = default_taus(pe$time),
     note = "pbc with late entry for all but one patient: the early risk sets are tiny (large KM steps, wide CIs)")

# Weighted 1: arbitrary non-integer case weights; Cox with robust = TRUE.
set.seed(11)
lw <- lung2
lw$w <- runif(nrow(lw), 0.2, 3)
case("lung_weighted", lw, "time", "dead", "sex", c("age", "ph.ecog", "ph.karno"), weights = "w", taus = default_taus(lw$time),
     note = "lung with non-integer case weights (uniform 0.2-3): weighted KM, RMST and Cox with robust (sandwich) SE")

# Weighted 2: stabilised IPTW for trt in pbc.
pw <- within(p, placebo <- as.integer(trt == 2))
pw$w <- stabilised_iptw(pw, "placebo", c("age", "edema", "log_bili", "log_albumin"))
case("pbc_iptw", pw, "time", "death", "trt", c("age", "log_bili"), weights = "w", taus = default_taus(pw$time),
     note = "pbc with stabilised inverse-probability-of-treatment weights for trt; robust SE")

# Weighted + delayed entry.
set.seed(5)
lwe <- lw
evt <- sort(unique(lwe$time[lwe$dead == 1]))
lwe$entry <- floor(lwe$time * runif(nrow(lwe), 0, 0.6))
tied <- sample(nrow(lwe), 40)
for (i in tied) { cand <- evt[evt < lwe$time[i]]; if (length(cand)) lwe$entry[i] <- cand[sample.int(length(cand), 1)] }
case("lung_weighted_entry", lwe, "time", "dead", "sex", c("age", "ph.karno"), entry = "entry", weights = "w",
     taus = default_taus(lwe$time),
     note = "lung with both delayed entry (some entries equal to event times) and non-integer case weights")

# Counting process: Stanford heart transplant, transplant as a time-varying covariate (R's `heart`, built from
# jasa), with model-based and cluster(id)-robust SE.
h <- heart
h$transplant <- as.integer(as.character(h$transplant))
case("heart", h, "stop", "event", "transplant", c("age", "surgery"), entry = "start", counting = list(cluster = "id"),
     note = "Stanford heart transplant (R's heart): Surv(start, stop, event) ~ transplant + age + surgery; rows as intervals")

# Counting process built with tmerge from jasa (as in the survival package's time-dependent vignette).
jasa$subject <- seq_len(nrow(jasa))
tdata <- with(jasa, data.frame(subject = subject,
                               futime = pmax(0.5, as.numeric(fu.date - accept.dt)),
                               txtime = ifelse(tx.date == fu.date, as.numeric(tx.date - accept.dt) - 0.5, as.numeric(tx.date - accept.dt)),
                               fustat = fustat))
tm <- tmerge(jasa[, c("subject", "age", "surgery")], tdata, id = subject, death = event(futime, fustat), trt = tdc(txtime))
tm$id <- tm$subject
case("jasa_tmerge", tm, "tstop", "death", "trt", c("age", "surgery"), entry = "tstart", counting = list(cluster = "id"),
     note = "jasa split with tmerge(..., death = event(futime, fustat), trt = tdc(txtime)); age in years")

cat("done\n")
