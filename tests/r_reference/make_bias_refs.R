# Reference results for imet_core.bias from R's survival package and glm.
# Usage (from tests/r_reference):  Rscript make_bias_refs.R bias
# Needs Debian's r-base-core (R 4.2), r-cran-survival (3.5-3) and r-cran-jsonlite; no CRAN, no network.
#
# For every case NAME in `cases`, reads bias/NAME.csv (an IMET-like registry made by
# imet_core.bias.simulation, see bias/README.md) and writes bias/NAME.expected.json. Every block records
# `call`: the R expression evaluated, with `d` standing for the case's data (plus the derived columns
# defined below). Nothing here is copied from the Python side: the counting-process data come from
# tmerge(), the landmark cohorts from subset(), the propensity score from glm(), the weights, SMDs,
# RMST difference and E-values from their textbook formulas written out in R.
suppressMessages({library(survival); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args) >= 1) args[1] else "bias"
cases <- c("imet_like", "imet_like_small")

LANDMARKS <- c(3, 6, 12)
TRIM_PERCENTILE <- 5                      # weights truncated at the 5th and 95th percentiles
RMST_TAU <- list(pdrs = 36, os = 120)
SITE_LEVELS <- c("lung", "liver", "lung+bone", "liver+bone", "multiple")
NODAL_LEVELS <- c("NX", "N0", "N1", "N2", "N3")
PS_BINARY <- c("age_lt_55", "hr_positive", "her2_positive", "mdfi_gt_24")

# ---- helpers ------------------------------------------------------------------------------------------
run <- function(call, env) eval(parse(text = call), envir = env)

cox_block <- function(call, env) {
  fit <- run(call, env)
  s <- summary(fit)
  co <- s$coefficients
  robust <- "robust se" %in% colnames(co)
  list(call = call, terms = rownames(co), coef = unname(co[, "coef"]),
       se = unname(co[, if (robust) "robust se" else "se(coef)"]),
       hr = unname(co[, "exp(coef)"]), hr_lower = unname(s$conf.int[, "lower .95"]),
       hr_upper = unname(s$conf.int[, "upper .95"]), z = unname(co[, "z"]),
       p = unname(co[, "Pr(>|z|)"]), robust = robust, n = fit$n, nevent = fit$nevent)
}

km_block <- function(call, env) {
  fit <- run(call, env)
  strata <- if (is.null(fit$strata)) rep("all", length(fit$time)) else
    rep(sub(".*=", "", names(fit$strata)), fit$strata)
  tab <- summary(fit)$table
  list(call = call,
       table = data.frame(stratum = strata, time = fit$time, at_risk = fit$n.risk, events = fit$n.event,
                          censored = fit$n.censor, survival = fit$surv, lower = fit$lower, upper = fit$upper),
       strata = if (is.null(fit$strata)) "all" else sub(".*=", "", names(fit$strata)),
       median = unname(tab[, "median"]), median_lower = unname(tab[, "0.95LCL"]),
       median_upper = unname(tab[, "0.95UCL"]))
}

# the reference level of a category: its most frequent level, ties to the first in the schema's order
reference_factor <- function(x, levels) {
  present <- levels[levels %in% x]
  counts <- table(factor(x, levels = present))
  relevel(factor(x, levels = present), ref = present[which.max(counts)])
}

# standardized mean difference (treated - control), weighted means and variances (Austin & Stuart 2015)
smd <- function(x, a, w, binary) {
  stat <- function(sel) {
    xs <- x[sel]; ws <- w[sel]; m <- sum(ws * xs) / sum(ws)
    v <- if (binary) m * (1 - m) else sum(ws) * sum(ws * (xs - m)^2) / (sum(ws)^2 - sum(ws^2))
    c(m, v)
  }
  t1 <- stat(a == 1); t0 <- stat(a == 0)
  c(mean_treated = t1[1], mean_control = t0[1], smd = (t1[1] - t0[1]) / sqrt((t1[2] + t0[2]) / 2))
}

balance_block <- function(terms, kinds, a, w) {
  rows <- lapply(seq_along(terms), function(i) {
    x <- terms[[i]]
    b <- smd(x, a, rep(1, length(x)), kinds[i] != "continuous")
    aw <- smd(x, a, w, kinds[i] != "continuous")
    data.frame(term = names(terms)[i], mean_treated_before = b[[1]], mean_control_before = b[[2]],
               smd_before = b[[3]], mean_treated_after = aw[[1]], mean_control_after = aw[[2]],
               smd_after = aw[[3]])
  })
  do.call(rbind, rows)
}

# E-value (VanderWeele & Ding 2017) with the hazard ratio turned into a risk ratio
to_rr <- function(hr, outcome) if (outcome == "rare") hr else (1 - 0.5^sqrt(hr)) / (1 - 0.5^sqrt(1 / hr))
evalue_rr <- function(rr) { if (rr < 1) rr <- 1 / rr; rr + sqrt(rr * (rr - 1)) }
evalue_block <- function(cox, outcome, fraction) {
  hr <- cox$hr[1]; lo <- cox$hr_lower[1]; hi <- cox$hr_upper[1]
  if (lo <= 1 && hi >= 1) { limit <- "none"; ci <- 1; rr_limit <- NA }
  else { limit <- if (hr < 1) "upper" else "lower"; rr_limit <- to_rr(if (hr < 1) hi else lo, outcome)
         ci <- evalue_rr(rr_limit) }
  list(hr = hr, hr_lower = lo, hr_upper = hi, outcome = outcome, event_fraction = fraction,
       rr = to_rr(hr, outcome), rr_limit = rr_limit, limit = limit, e_value = evalue_rr(to_rr(hr, outcome)),
       e_value_ci = ci, call = "hand formula: E = RR + sqrt(RR (RR - 1)), RR < 1 inverted")
}

rmst_block <- function(lhs, tau, env) {
  call <- sprintf("summary(survfit(%s ~ group, data = d), rmean = %s)$table", lhs, format(tau))
  tab <- run(call, env)
  est <- tab[, "rmean"]; se <- tab[, "se(rmean)"]
  names(est) <- names(se) <- sub(".*=", "", rownames(tab))
  diff <- est[["IT"]] - est[["ST"]]; dse <- sqrt(se[["IT"]]^2 + se[["ST"]]^2)
  zph_call <- sprintf("cox.zph(coxph(%s ~ it, data = d))$table", lhs)
  zph <- run(zph_call, env)
  list(call = call, tau = tau, estimate = as.list(est), se = as.list(se), difference = diff,
       difference_se = dse, difference_lower = diff - qnorm(0.975) * dse,
       difference_upper = diff + qnorm(0.975) * dse, difference_p = 2 * pnorm(-abs(diff / dse)),
       ph_call = zph_call, ph_p = zph["it", "p"])
}

# ---- the cases ----------------------------------------------------------------------------------------
for (name in cases) {
  d <- read.csv(file.path(out, paste0(name, ".csv")), stringsAsFactors = FALSE)
  d$id <- seq_len(nrow(d))
  d$it <- as.numeric(d$group == "IT")
  d$site_f <- reference_factor(d$site, SITE_LEVELS)
  d$nodal_f <- reference_factor(d$nodal_status, NODAL_LEVELS)
  env <- new.env(); assign("d", d, envir = env)
  ref <- list(name = name, n = nrow(d), r_version = R.version.string,
              survival_version = as.character(packageVersion("survival")),
              derived = c("id = row number", "it = group == 'IT'",
                          "site_f, nodal_f = factors with the most frequent level as reference"))

  # 1. delayed entry vs naive, IT vs ST and MDFI > 24 months
  ref$delayed_entry <- list(
    group = list(
      naive = cox_block("coxph(Surv(os_months, dead) ~ it, data = d)", env),
      delayed_entry = cox_block("coxph(Surv(entry_months, os_months, dead) ~ it, data = d)", env),
      km_naive = km_block("survfit(Surv(os_months, dead) ~ group, data = d)", env),
      km_delayed_entry = km_block("survfit(Surv(entry_months, os_months, dead) ~ group, data = d)", env)),
    mdfi_gt_24 = list(
      naive = cox_block("coxph(Surv(os_months, dead) ~ mdfi_gt_24, data = d)", env),
      delayed_entry = cox_block("coxph(Surv(entry_months, os_months, dead) ~ mdfi_gt_24, data = d)", env),
      km_naive = km_block("survfit(Surv(os_months, dead) ~ mdfi_gt_24, data = d)", env),
      km_delayed_entry = km_block("survfit(Surv(entry_months, os_months, dead) ~ mdfi_gt_24, data = d)", env)),
    late_entrants = sum(d$entry_months > 0))

  # 2. landmarks: alive and followed at L, IT only if the intervention came by L, clock reset at L
  ref$landmark <- lapply(LANDMARKS, function(L) {
    lm <- subset(d, pdrs_months > L)
    lm$it_lm <- as.numeric(lm$group == "IT" & !is.na(lm$intervention_months) & lm$intervention_months <= L)
    lm$time_lm <- lm$pdrs_months - L
    e <- new.env(); assign("d", lm, envir = e)
    list(landmark = L, excluded_before_landmark = sum(d$pdrs_months <= L),
         it_after_landmark = sum(lm$group == "IT" & lm$it_lm == 0),
         cox = cox_block("coxph(Surv(time_lm, dead) ~ it_lm, data = d)", e),
         km = km_block("survfit(Surv(time_lm, dead) ~ it_lm, data = d)", e),
         cohort_call = sprintf("subset(d, pdrs_months > %s); it_lm = IT & intervention_months <= %s; time_lm = pdrs_months - %s", L, L, L))
  })

  # 3. intervention as a time-varying covariate, counting-process rows by tmerge
  base <- d[, c("id", "pdrs_months", "os_months", "entry_months", "dead", "intervention_months")]
  tv <- tmerge(base[, c("id", "entry_months")], base, id = id, death = event(pdrs_months, dead),
               it_tv = tdc(intervention_months))
  tv_os <- tmerge(base[, c("id", "entry_months")], base, id = id, tstart = base$entry_months, tstop = base$os_months)
  tv_os <- tmerge(tv_os, base, id = id, death = event(os_months, dead), it_tv = tdc(entry_months + intervention_months))
  e_tv <- new.env(); assign("d", tv, envir = e_tv)
  e_tvos <- new.env(); assign("d", tv_os, envir = e_tvos)
  ref$time_varying <- list(
    pdrs = c(cox_block("coxph(Surv(tstart, tstop, death) ~ it_tv, data = d, cluster = id)", e_tv),
             list(rows = nrow(tv), data_call = "tmerge(base, base, id = id, death = event(pdrs_months, dead), it_tv = tdc(intervention_months))")),
    os = c(cox_block("coxph(Surv(tstart, tstop, death) ~ it_tv, data = d, cluster = id)", e_tvos),
           list(rows = nrow(tv_os), data_call = "tmerge(..., tstart = entry_months, tstop = os_months); tmerge(..., death = event(os_months, dead), it_tv = tdc(entry_months + intervention_months))")))

  # 4. propensity score, stabilised weights (and truncated), balance
  ps_call <- "glm(it ~ age_lt_55 + hr_positive + her2_positive + mdfi_gt_24 + site_f + nodal_f, family = binomial, data = d, control = glm.control(epsilon = 1e-14, maxit = 100))"
  ps_fit <- run(ps_call, env)
  term_names <- c("(Intercept)", PS_BINARY, paste0("site=", levels(d$site_f)[-1]), paste0("nodal_status=", levels(d$nodal_f)[-1]))
  stopifnot(length(term_names) == length(coef(ps_fit)))
  ps <- unname(fitted(ps_fit))
  share <- mean(d$it)
  w <- ifelse(d$it == 1, share / ps, (1 - share) / (1 - ps))
  q <- unname(quantile(w, c(TRIM_PERCENTILE, 100 - TRIM_PERCENTILE) / 100, type = 7))
  w_trim <- pmin(pmax(w, q[1]), q[2])
  d$w <- w; d$w_trim <- w_trim
  assign("d", d, envir = env)
  terms <- c(lapply(PS_BINARY, function(v) as.numeric(d[[v]])),
             lapply(levels(factor(d$site, levels = SITE_LEVELS[SITE_LEVELS %in% d$site])), function(l) as.numeric(d$site == l)),
             lapply(NODAL_LEVELS[NODAL_LEVELS %in% d$nodal_status], function(l) as.numeric(d$nodal_status == l)))
  names(terms) <- c(PS_BINARY, paste0("site=", SITE_LEVELS[SITE_LEVELS %in% d$site]),
                    paste0("nodal_status=", NODAL_LEVELS[NODAL_LEVELS %in% d$nodal_status]))
  ps_age_call <- "glm(it ~ age + mdfi_gt_24 + site_f, family = binomial, data = d, control = glm.control(epsilon = 1e-14, maxit = 100))"
  ps_age <- run(ps_age_call, env)
  ps2 <- unname(fitted(ps_age))
  w2 <- ifelse(d$it == 1, share / ps2, (1 - share) / (1 - ps2))
  terms2 <- c(list(age = d$age, mdfi_gt_24 = as.numeric(d$mdfi_gt_24)),
              setNames(lapply(SITE_LEVELS[SITE_LEVELS %in% d$site], function(l) as.numeric(d$site == l)),
                       paste0("site=", SITE_LEVELS[SITE_LEVELS %in% d$site])))
  ref$propensity <- list(
    call = ps_call, terms = term_names, coef = unname(coef(ps_fit)),
    se = unname(sqrt(diag(vcov(ps_fit)))), scores = ps, weights = w,
    weights_call = "ifelse(it == 1, mean(it) / ps, (1 - mean(it)) / (1 - ps))",
    trim_percentile = TRIM_PERCENTILE, trim_limits = q, weights_trimmed = w_trim,
    balance = balance_block(terms, rep("binary", length(terms)), d$it, w),
    with_age = list(call = ps_age_call, scores = ps2, weights = w2,
                    balance = balance_block(terms2, c("continuous", rep("binary", length(terms2) - 1)), d$it, w2)))

  # 5. weighted Kaplan-Meier and weighted Cox with robust SE
  ref$weighted <- list(
    km_pdrs = km_block("survfit(Surv(pdrs_months, dead) ~ group, data = d, weights = w)", env),
    km_os = km_block("survfit(Surv(entry_months, os_months, dead) ~ group, data = d, weights = w)", env),
    cox_pdrs = cox_block("coxph(Surv(pdrs_months, dead) ~ it, data = d, weights = w, robust = TRUE)", env),
    cox_os = cox_block("coxph(Surv(entry_months, os_months, dead) ~ it, data = d, weights = w, cluster = id)", env),
    cox_os_trimmed = cox_block("coxph(Surv(entry_months, os_months, dead) ~ it, data = d, weights = w_trim, cluster = id)", env))

  # 6. multivariable Cox with the same covariates (delayed entry for OS)
  ref$multivariable <- list(
    os = c(cox_block("coxph(Surv(entry_months, os_months, dead) ~ it + age_lt_55 + hr_positive + her2_positive + mdfi_gt_24 + site_f + nodal_f, data = d)", env),
           list(term_names = c("it", term_names[-1]))),
    pdrs = c(cox_block("coxph(Surv(pdrs_months, dead) ~ it + age_lt_55 + hr_positive + her2_positive + mdfi_gt_24 + site_f + nodal_f, data = d)", env),
             list(term_names = c("it", term_names[-1]))))

  # 7. RMST per arm and the difference; cox.zph p for IT
  ref$rmst <- list(pdrs = rmst_block("Surv(pdrs_months, dead)", RMST_TAU$pdrs, env),
                   os = rmst_block("Surv(entry_months, os_months, dead)", RMST_TAU$os, env))

  # 8. E-values of the delayed-entry HR of IT (and of the naive MDFI HR)
  fraction <- mean(d$dead)
  ref$e_value <- list(
    delayed_entry_common = evalue_block(ref$delayed_entry$group$delayed_entry, "common", fraction),
    delayed_entry_rare = evalue_block(ref$delayed_entry$group$delayed_entry, "rare", fraction),
    mdfi_naive_common = evalue_block(ref$delayed_entry$mdfi_gt_24$naive, "common", fraction))

  writeLines(toJSON(ref, digits = NA, auto_unbox = TRUE, dataframe = "columns", na = "null", null = "null"),
             file.path(out, paste0(name, ".expected.json")))
  cat("wrote", file.path(out, paste0(name, ".expected.json")), "\n")
}
