"""The demo portal's cast, teams, model inventory and approvals, and the pure functions that derive each version's data.

No I/O here: `load_demo` reads these specs and calls the services. Everything a version carries
(digest, commit, metrics, model card) is derived deterministically from the model and version
strings, so two loads of the demo describe the same artifacts.
"""

import hashlib
from dataclasses import dataclass, field

from django.utils.text import slugify

ADMIN = "admin"


@dataclass(frozen=True)
class DemoUser:
    username: str
    first_name: str
    last_name: str
    title: str
    superuser: bool = False
    portal_auditor: bool = False  # reads every team's security events (sign-ins, failed signatures)

    @property
    def email(self) -> str:
        return f"{self.username}@example.com"


USERS = [
    DemoUser(ADMIN, "Portal", "Administrator", "Portal administrator", superuser=True),
    DemoUser("dana", "Dana", "Whitfield", "Senior data scientist"),
    DemoUser("rita", "Rita", "Okafor", "Model risk officer"),
    DemoUser("nadia", "Nadia", "Brooks", "Model risk analyst"),
    DemoUser("sam", "Sam", "Lindqvist", "Security reviewer"),
    DemoUser("bo", "Bo", "Andersen", "Business owner"),
    DemoUser("audrey", "Audrey", "Chen", "Internal auditor", portal_auditor=True),
    DemoUser("omar", "Omar", "Haddad", "Head of credit risk analytics"),
    DemoUser("lena", "Lena", "Fischer", "Fraud analytics lead"),
    DemoUser("tom", "Tom", "Reyes", "Marketing analytics lead"),
    DemoUser("kenji", "Kenji", "Watanabe", "ML engineer"),
    DemoUser("vera", "Vera", "Novak", "Product analyst"),
]


def full_name(username: str) -> str:
    user = next(user for user in USERS if user.username == username)
    return f"{user.first_name} {user.last_name}"


CREDIT, FRAUD, MARKETING = "Credit Risk", "Fraud & Financial Crime", "Marketing Analytics"

TEAMS = {
    CREDIT: "Application and behavioural scorecards, PD and LGD models for retail and SME lending.",
    FRAUD: "Real-time card and payments fraud detection, account protection and anti-money-laundering monitoring.",
    MARKETING: "Churn, propensity and uplift models, customer-service NLP and generative marketing tooling.",
}

ALL_TEAMS = tuple(TEAMS)

# (username, teams, role): dana builds models everywhere; the approvers and the auditor see every team.
# Four approvers, because high-risk production needs four distinct people: two model-risk reviewers
# (rita and nadia), security (sam) and the business owner (bo).
ROLES = [
    ("dana", ALL_TEAMS, "contributor"),
    ("rita", ALL_TEAMS, "approver"),
    ("nadia", ALL_TEAMS, "approver"),
    ("sam", ALL_TEAMS, "approver"),
    ("bo", ALL_TEAMS, "approver"),
    ("audrey", ALL_TEAMS, "auditor"),
    ("omar", (CREDIT,), "admin"),
    ("lena", (FRAUD,), "admin"),
    ("tom", (MARKETING,), "admin"),
    ("kenji", (FRAUD,), "contributor"),
    ("vera", (CREDIT, MARKETING), "viewer"),
]

TEAM_ADMINS = {CREDIT: "omar", FRAUD: "lena", MARKETING: "tom"}
CI_ACCOUNT = "retail-scorecard-ci"  # Credit Risk's pipeline, with one API token
# A credential the portal admin granted to Credit Risk: its token is read from the worker's environment and sent to
# github.com only (the variable is not set in the demo, so a sync with it says so instead of fetching).
CREDENTIAL = {
    "name": "github-credit-risk",
    "reference": "env:GIT_TOKEN_CREDIT_RISK",
    "allowed_hosts": ["github.com"],
    "description": "Read-only GitHub token for Credit Risk's model repositories.",
}

# (grantor, grantee, action, model name): one object permission, so the demo shows guardian at work.
OBJECT_GRANTS = [("lena", "vera", "view", "Card Transaction Fraud Detector")]

REPOSITORIES = {
    CREDIT: "https://github.com/example-bank/credit-risk-models",
    FRAUD: "https://github.com/example-bank/fincrime-ml",
    MARKETING: "https://github.com/example-bank/marketing-ml",
}

LOWER_IS_BETTER = {"brier", "rmse", "mae", "psi", "false_positive_rate", "latency_p99_ms", "toxicity_rate"}

PARAMETERS = {
    "xgboost": {
        "objective": "binary:logistic", "max_depth": 4, "n_estimators": 400, "learning_rate": 0.05,
        "subsample": 0.8, "colsample_bytree": 0.7, "min_child_weight": 5, "reg_lambda": 1.0, "random_state": 42,
    },
    "lightgbm": {
        "objective": "binary", "num_leaves": 63, "n_estimators": 600, "learning_rate": 0.03,
        "feature_fraction": 0.8, "bagging_fraction": 0.8, "min_child_samples": 50, "random_state": 42,
    },
    "pytorch": {
        "architecture": "GRU", "hidden_size": 128, "num_layers": 2, "dropout": 0.2, "learning_rate": 0.001,
        "batch_size": 512, "epochs": 12, "optimizer": "AdamW", "seed": 42,
    },
    "transformers": {
        "base_model": "distilbert-base-uncased", "max_seq_length": 128, "learning_rate": 3e-05, "epochs": 4,
        "per_device_train_batch_size": 32, "warmup_ratio": 0.06, "weight_decay": 0.01, "seed": 42,
    },
}  # fmt: skip


@dataclass(frozen=True)
class Step:
    """One lifecycle move made after registration: who made it and the reason on record."""

    status: str
    actor: str
    reason: str


@dataclass(frozen=True)
class DemoModel:
    name: str
    team: str
    risk_tier: str
    ai_act: str
    framework: str
    algorithm: str
    versions: tuple[str, ...]
    owners: tuple[str, ...]
    validator: str
    metrics: dict
    description: str
    intended_use: str
    out_of_scope: str
    limitations: str
    training: str
    datasets: tuple[str, ...]  # "{snapshot}" becomes the version's data snapshot, e.g. 2023Q4
    ethics: str
    caveats: str
    tags: tuple[str, ...]
    first_snapshot: tuple[int, int]  # (year, quarter) of the first version's training data
    lifecycle: tuple[Step, ...] = ()
    validated_days_ago: int | None = None
    validation_due_in_days: int | None = None  # negative: overdue
    parameters: dict = field(default_factory=dict)  # on top of the framework's defaults (sklearn has none)
    source: str = "manual"

    @property
    def slug(self) -> str:
        return slugify(self.name)

    @property
    def status(self) -> str:
        return self.lifecycle[-1].status if self.lifecycle else "development"


def to_production(owner: str, admin: str, validator: str, report: str) -> tuple[Step, ...]:
    return (
        Step("validation", owner, "Candidate frozen, out-of-time results stable: submitted for validation."),
        Step(
            "production",
            admin,
            f"Independent validation passed ({report}, {full_name(validator)}); approved for production use.",
        ),
    )


MODELS = [
    DemoModel(
        name="Retail Credit Scorecard",
        team=CREDIT,
        risk_tier="high",
        ai_act="high",
        framework="xgboost",
        algorithm="Gradient-boosted trees with monotonic constraints on bureau and affordability features",
        versions=("1.0.0", "1.1.0", "1.2.0", "2.0.0", "2.1.0", "2.2.0"),
        owners=("dana", "omar"),
        validator="rita",
        metrics={"auc": 0.781, "ks": 0.421, "precision": 0.612, "recall": 0.548, "brier": 0.071, "psi": 0.041},
        description="Application scorecard estimating the 12-month probability of default for unsecured "
        "personal loans and credit cards.",
        intended_use="Rank new retail credit applications by default risk to support accept/decline and "
        "limit-setting decisions within the approved credit policy cut-offs.",
        out_of_scope="Existing-customer limit increases, SME lending, and any use outside the UK retail book.",
        limitations="Thin-file applicants (fewer than two bureau trade lines) score less reliably; "
        "the model is recalibrated quarterly and must not be used with stale calibration.",
        training="Booked applications with 12-month performance windows, joined to credit bureau snapshots "
        "taken at application time. Declined applications are reject-inferred with fuzzy augmentation.",
        datasets=(
            "s3://ml-data/credit/retail-applications/snapshot={snapshot}/",
            "snowflake://RISK.BUREAU.APPLICATION_SNAPSHOT@{snapshot}",
        ),
        ethics="Protected characteristics are excluded, and proxies (postcode district, first name) are "
        "screened out. Approval-rate parity across age bands and sex is monitored monthly; adverse-action "
        "reasons are generated from the top SHAP contributions.",
        caveats="Performance degrades when bureau data is delayed; the scorecard falls back to the "
        "policy rules in that case. Regulators classify creditworthiness scoring as high risk.",
        tags=("credit", "retail", "scorecard", "ifrs9"),
        first_snapshot=(2022, 1),
        lifecycle=to_production("dana", "omar", "rita", "MRM-2024-031"),
        validated_days_ago=400,
        validation_due_in_days=-35,
    ),
    DemoModel(
        name="SME Probability of Default",
        team=CREDIT,
        risk_tier="critical",
        ai_act="high",
        framework="lightgbm",
        algorithm="LightGBM classifier calibrated with isotonic regression",
        versions=("1.0.0", "1.1.0", "1.2.0", "1.3.0", "2.0.0"),
        owners=("omar", "dana"),
        validator="rita",
        metrics={"auc": 0.812, "ks": 0.468, "precision": 0.534, "recall": 0.602, "brier": 0.058},
        description="Through-the-cycle probability of default for small and medium enterprise borrowers, "
        "used in IRB capital and IFRS 9 staging.",
        intended_use="Regulatory capital (IRB PD), IFRS 9 stage allocation and annual SME credit reviews.",
        out_of_scope="Corporate borrowers above EUR 50m turnover; start-ups with under 12 months of accounts.",
        limitations="Calibrated on a benign credit cycle; downturn adjustments are applied outside the model.",
        training="Ten years of SME obligor-year observations with financial statements, account conduct and "
        "bureau data; defaults per the regulatory definition (90 days past due or unlikely to pay).",
        datasets=(
            "s3://ml-data/credit/sme-obligor-years/snapshot={snapshot}/",
            "snowflake://RISK.SME.FINANCIALS@{snapshot}",
        ),
        ethics="Sole traders are natural persons: director age and nationality are excluded. "
        "Sector concentration and regional parity are reviewed at each validation.",
        caveats="Financial statements lag by up to 18 months; the conduct features carry the recent signal.",
        tags=("credit", "sme", "pd", "basel"),
        first_snapshot=(2022, 2),
        lifecycle=to_production("omar", "omar", "rita", "MRM-2024-047"),
        validated_days_ago=90,
        validation_due_in_days=275,
        parameters={"num_leaves": 31, "min_child_samples": 200},
    ),
    DemoModel(
        name="Mortgage Loss Given Default",
        team=CREDIT,
        risk_tier="high",
        ai_act="high",
        framework="sklearn",
        algorithm="Two-stage model: cure probability (logistic regression) times loss severity (gradient boosting)",
        versions=("0.9.0", "1.0.0", "1.1.0", "1.2.0"),
        owners=("dana", "omar"),
        validator="rita",
        metrics={"rmse": 0.142, "mae": 0.098, "r2": 0.412},
        description="Expected loss given default for residential mortgages, by loan-to-value band and region.",
        intended_use="IFRS 9 expected-credit-loss provisioning and IRB LGD estimates for the mortgage book.",
        out_of_scope="Buy-to-let portfolios and second-charge lending.",
        limitations="Few observed losses in the low-LTV bands; those bands are floored by policy.",
        training="Defaulted mortgages since 2009 with workout outcomes, indexed property valuations and "
        "recovery cash flows discounted at the contract rate.",
        datasets=("s3://ml-data/credit/mortgage-workouts/snapshot={snapshot}/",),
        ethics="Loss estimates feed provisions, not individual decisions; no customer-level characteristics "
        "beyond the loan and the property are used.",
        caveats="House-price index revisions move the estimates; re-run after each quarterly HPI release.",
        tags=("credit", "mortgage", "lgd", "basel"),
        first_snapshot=(2022, 4),
        lifecycle=(Step("validation", "dana", "First full build complete; submitted for initial validation."),),
        validation_due_in_days=30,
        parameters={
            "cure_estimator": "LogisticRegression",
            "cure_C": 1.0,
            "severity_estimator": "GradientBoostingRegressor",
            "n_estimators": 300,
            "max_depth": 3,
            "learning_rate": 0.05,
            "loss": "squared_error",
        },
    ),
    DemoModel(
        name="Collections Prioritisation",
        team=CREDIT,
        risk_tier="medium",
        ai_act="minimal",
        framework="sklearn",
        algorithm="Logistic regression on early-arrears behaviour",
        versions=("1.0.0", "1.1.0", "1.2.0"),
        owners=("dana", "omar"),
        validator="rita",
        metrics={"auc": 0.734, "precision": 0.488, "recall": 0.571, "ks": 0.352},
        description="Ranked accounts one to thirty days past due by their probability of self-curing.",
        intended_use="Order the collections call queue so agents contact the least likely to self-cure first.",
        out_of_scope="Any decision about fees, legal action or credit reporting.",
        limitations="Trained before the 2023 contact-strategy change; its rankings no longer match the queue.",
        training="Twelve months of early-arrears episodes with cure outcomes at 60 days.",
        datasets=("s3://ml-data/credit/arrears-episodes/snapshot={snapshot}/",),
        ethics="Vulnerable-customer flags always route to a specialist team regardless of score.",
        caveats="Retired: kept for the record only.",
        tags=("collections", "credit"),
        first_snapshot=(2021, 2),
        lifecycle=(
            *to_production("dana", "omar", "rita", "MRM-2022-012"),
            Step("retired", "omar", "Superseded by the collections strategy engine; no service calls it any more."),
        ),
        validated_days_ago=700,
        validation_due_in_days=-335,
        parameters={"estimator": "LogisticRegression", "C": 0.5, "penalty": "l2", "solver": "lbfgs", "max_iter": 1000},
    ),
    DemoModel(
        name="Card Transaction Fraud Detector",
        team=FRAUD,
        risk_tier="critical",
        ai_act="minimal",
        framework="lightgbm",
        algorithm="LightGBM on streaming velocity, merchant and device features",
        versions=("3.0.0", "3.1.0", "3.2.0", "3.3.0", "3.4.0", "3.5.0", "3.6.0", "3.7.0"),
        owners=("kenji", "dana"),
        validator="sam",
        metrics={
            "auc": 0.962,
            "precision": 0.381,
            "recall": 0.712,
            "recall@fpr0.1pct": 0.583,
            "false_positive_rate": 0.0041,
            "latency_p99_ms": 11.0,
        },
        description="Scores every card authorisation in real time; high scores trigger a step-up "
        "challenge or a decline.",
        intended_use="Real-time authorisation decisions for debit and credit card transactions, within "
        "the 20 ms scoring budget of the authorisation switch.",
        out_of_scope="Bank transfers, account opening, and any use as evidence in disputes.",
        limitations="New merchants have no history for the first 30 days; a rules layer covers them.",
        training="Six months of authorisations with confirmed fraud labels (chargebacks and customer "
        "reports) matured for 90 days; legitimate traffic down-sampled 1:50.",
        datasets=(
            "s3://ml-data/fincrime/card-auths/snapshot={snapshot}/",
            "s3://ml-data/fincrime/fraud-labels/matured={snapshot}/",
        ),
        ethics="Fraud detection is outside the AI Act's high-risk credit category, but declines hurt: "
        "false-positive rates are monitored by customer segment and travel patterns.",
        caveats="Label delay of up to 90 days: recent performance figures are provisional.",
        tags=("fraud", "cards", "real-time"),
        first_snapshot=(2022, 1),
        lifecycle=to_production("kenji", "lena", "sam", "FVR-2024-008"),
        validated_days_ago=380,
        validation_due_in_days=-15,
        source="api",
    ),
    DemoModel(
        name="AML Transaction Monitoring",
        team=FRAUD,
        risk_tier="critical",
        ai_act="minimal",
        framework="xgboost",
        algorithm="XGBoost alert scorer over rule-generated alerts",
        versions=("2.0.0", "2.1.0", "2.2.0", "2.3.0", "3.0.0"),
        owners=("kenji", "dana"),
        validator="sam",
        metrics={"auc": 0.884, "precision": 0.224, "recall": 0.813, "alert_reduction": 0.342},
        description="Prioritises anti-money-laundering alerts so investigators see the riskiest first; "
        "no alert is closed automatically.",
        intended_use="Rank transaction-monitoring alerts for the financial intelligence unit's work queue.",
        out_of_scope="Automatic closure of alerts, sanctions screening, customer exit decisions.",
        limitations="Typologies unseen in training (new mule patterns) rank low until relabelled.",
        training="Three years of investigated alerts with analyst dispositions and filed suspicious activity reports.",
        datasets=(
            "s3://ml-data/fincrime/aml-alerts/snapshot={snapshot}/",
            "snowflake://FINCRIME.SAR.DISPOSITIONS@{snapshot}",
        ),
        ethics="Nationality and country of birth are excluded; alert volumes by customer segment are "
        "reviewed quarterly with Compliance.",
        caveats="A human investigator reviews every alert; the score orders work, it does not decide.",
        tags=("aml", "fraud", "transaction-monitoring"),
        first_snapshot=(2022, 3),
        lifecycle=to_production("dana", "lena", "sam", "FVR-2024-015"),
        validated_days_ago=60,
        validation_due_in_days=305,
        source="api",
    ),
    DemoModel(
        name="Account Takeover Detector",
        team=FRAUD,
        risk_tier="high",
        ai_act="minimal",
        framework="pytorch",
        algorithm="GRU sequence model over login and session events",
        versions=("0.1.0", "0.2.0", "0.3.0", "1.0.0"),
        owners=("kenji",),
        validator="sam",
        metrics={"auc": 0.931, "precision": 0.472, "recall": 0.664, "latency_p99_ms": 24.0},
        description="Detects compromised online-banking sessions from device, network and behaviour signals.",
        intended_use="Trigger step-up authentication on suspicious sessions in online and mobile banking.",
        out_of_scope="Blocking accounts without a human review.",
        limitations="Shared family devices produce false positives; an allow-list mitigates them.",
        training="Nine months of session event sequences with confirmed takeover cases from the fraud desk.",
        datasets=("s3://ml-data/fincrime/session-events/snapshot={snapshot}/",),
        ethics="Device fingerprints are hashed and retained for 13 months; accessibility tools are "
        "excluded from the behavioural features.",
        caveats="Validation found label leakage in 0.2.0; 0.3.0 and later drop post-login features.",
        tags=("ato", "fraud", "deep-learning"),
        first_snapshot=(2023, 2),
        lifecycle=(
            Step("validation", "kenji", "Candidate 0.2.0 submitted for independent validation."),
            Step("development", "lena", "Sent back: validation found label leakage from post-login features."),
            Step("validation", "kenji", "Leakage fixed in 0.3.0; resubmitted for validation."),
        ),
        validation_due_in_days=21,
        source="api",
    ),
    DemoModel(
        name="Merchant Risk Classifier",
        team=FRAUD,
        risk_tier="medium",
        ai_act="minimal",
        framework="sklearn",
        algorithm="Random forest over merchant onboarding and chargeback features",
        versions=("0.1.0", "0.2.0", "0.3.0"),
        owners=("kenji", "dana"),
        validator="sam",
        metrics={"auc": 0.803, "precision": 0.412, "recall": 0.587},
        description="Flags newly onboarded merchants likely to generate excessive chargebacks.",
        intended_use="Prioritise merchant onboarding reviews for the acquiring risk team.",
        out_of_scope="Automatic merchant termination.",
        limitations="Prototype: trained on one acquiring region only.",
        training="Merchants onboarded over two years with chargeback ratios at six months.",
        datasets=("s3://ml-data/fincrime/merchant-onboarding/snapshot={snapshot}/",),
        ethics="Owner demographics are excluded; only business attributes are used.",
        caveats="In development; not approved for any decision.",
        tags=("fraud", "merchants"),
        first_snapshot=(2024, 1),
        parameters={
            "estimator": "RandomForestClassifier",
            "n_estimators": 500,
            "max_depth": 12,
            "class_weight": "balanced",
            "random_state": 42,
        },
    ),
    DemoModel(
        name="Customer Churn Predictor",
        team=MARKETING,
        risk_tier="medium",
        ai_act="minimal",
        framework="lightgbm",
        algorithm="LightGBM classifier on product holdings, engagement and service contacts",
        versions=("1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0"),
        owners=("dana", "tom"),
        validator="rita",
        metrics={"auc": 0.842, "precision": 0.583, "recall": 0.491, "lift_at_10pct": 3.21},
        description="Probability that a current-account customer closes their account within 90 days.",
        intended_use="Select customers for retention offers and proactive service calls.",
        out_of_scope="Pricing, credit decisions, and any reduction of service to likely churners.",
        limitations="Joint accounts are scored per holder; household-level churn is not modelled.",
        training="Monthly customer snapshots with 90-day closure outcomes, 24 months rolling.",
        datasets=(
            "s3://ml-data/marketing/customer-snapshots/snapshot={snapshot}/",
            "snowflake://MARKETING.CRM.CONTACTS@{snapshot}",
        ),
        ethics="Retention offers are reviewed for fairness so long-standing customers are not "
        "disadvantaged against likely churners.",
        caveats="Seasonal: scores inflate in January when annual fees fall due.",
        tags=("churn", "marketing", "retention"),
        first_snapshot=(2022, 2),
        lifecycle=to_production("dana", "tom", "rita", "MRM-2023-077"),
        validated_days_ago=410,
        validation_due_in_days=-45,
    ),
    DemoModel(
        name="Support Chat Intent Classifier",
        team=MARKETING,
        risk_tier="low",
        ai_act="limited",
        framework="transformers",
        algorithm="Fine-tuned DistilBERT sequence classifier (48 intents)",
        versions=("1.0.0", "1.1.0", "2.0.0", "2.1.0"),
        owners=("tom", "dana"),
        validator="rita",
        metrics={"accuracy": 0.912, "macro_f1": 0.871, "weighted_f1": 0.905, "top3_accuracy": 0.981},
        description="Routes customer messages in the support chat to the right automated flow or human team.",
        intended_use="Intent routing in the web and app support chat; customers are told they are talking "
        "to an automated assistant.",
        out_of_scope="Complaints handling decisions and vulnerable-customer identification.",
        limitations="English only; code-switched messages fall back to a human agent.",
        training="Two hundred thousand anonymised chat openings labelled by the service design team.",
        datasets=("s3://ml-data/marketing/chat-intents/labelled={snapshot}/",),
        ethics="Customer messages are pseudonymised before labelling; the chatbot discloses that it is "
        "automated, as the AI Act's transparency obligations require.",
        caveats="Low-confidence predictions (below 0.6) hand over to a human.",
        tags=("nlp", "chatbot", "customer-service"),
        first_snapshot=(2023, 1),
        lifecycle=to_production("tom", "tom", "rita", "MRM-2024-090"),
        validated_days_ago=30,
        validation_due_in_days=335,
    ),
    DemoModel(
        name="Campaign Uplift Model",
        team=MARKETING,
        risk_tier="low",
        ai_act="minimal",
        framework="xgboost",
        algorithm="T-learner with XGBoost base learners",
        versions=("0.1.0", "0.2.0", "0.3.0"),
        owners=("dana", "tom"),
        validator="sam",
        metrics={"qini": 0.062, "auuc": 0.571, "uplift_at_10pct": 0.041},
        description="Estimates the incremental response to a campaign, to target persuadable customers.",
        intended_use="Choose campaign audiences for savings and card cross-sell e-mails.",
        out_of_scope="Credit offers and any channel without an opt-out.",
        limitations="Trained on two randomised campaigns; effects may not transfer to new products.",
        training="Randomised holdout campaigns with treatment and control groups.",
        datasets=("s3://ml-data/marketing/campaign-rct/snapshot={snapshot}/",),
        ethics="Marketing consent is checked before scoring; customers in financial difficulty are excluded.",
        caveats="Experimental: uplift estimates carry wide confidence intervals.",
        tags=("marketing", "uplift", "causal"),
        first_snapshot=(2024, 2),
        parameters={"meta_learner": "T-learner", "n_estimators": 200},
    ),
    DemoModel(
        name="Marketing Copy Generator",
        team=MARKETING,
        risk_tier="medium",
        ai_act="limited",
        framework="transformers",
        algorithm="Instruction-tuned 1B-parameter language model with a brand-voice LoRA adapter",
        versions=("0.1.0", "0.2.0", "0.3.0"),
        owners=("tom",),
        validator="sam",
        metrics={"rouge_l": 0.413, "brand_voice_score": 0.781, "human_preference": 0.634, "toxicity_rate": 0.0021},
        description="Drafts e-mail and push-notification copy for campaigns; a copywriter edits and approves.",
        intended_use="First drafts of marketing copy, always reviewed by a human before sending.",
        out_of_scope="Regulated financial promotions without compliance sign-off; customer-specific messages.",
        limitations="May state product terms incorrectly; every figure must be checked against the product sheet.",
        training="Five years of approved campaign copy plus the brand style guide, deduplicated.",
        datasets=(
            "s3://ml-data/marketing/approved-copy/snapshot={snapshot}/",
            "s3://ml-data/marketing/brand-style-guide/v3/",
        ),
        ethics="Generated content is labelled as AI-assisted internally, in line with the AI Act's "
        "transparency obligations; outputs pass a toxicity and claims filter.",
        caveats="Hallucinated rates and fees are the main failure mode; see the claims-filter report.",
        tags=("genai", "marketing", "nlp"),
        first_snapshot=(2024, 1),
        lifecycle=(Step("validation", "tom", "Pilot complete with copywriters; submitted for validation."),),
        validation_due_in_days=14,
        parameters={"base_model": "example-bank/brand-lm-1b", "lora_rank": 16, "max_seq_length": 512},
    ),
]


# --- approvals: environments, policies and deployment requests ------------------------------------


@dataclass(frozen=True)
class DemoEnvironment:
    name: str
    slug: str
    order: int
    protected: bool
    description: str


ENVIRONMENTS = [
    DemoEnvironment(
        name="Development", slug="development", order=1, protected=False,
        description="Shared sandbox cluster on masked data: integration tests, no customer impact.",
    ),
    DemoEnvironment(
        name="Staging", slug="staging", order=2, protected=True,
        description="Production-like shadow environment: scores live traffic, decides nothing.",
    ),
    DemoEnvironment(
        name="Production", slug="production", order=3, protected=True,
        description="Serves live decisions to customers and colleagues.",
    ),
]  # fmt: skip


@dataclass(frozen=True)
class DemoStep:
    """One approval step: the model team's approvers by default, or the named people."""

    name: str
    quorum: int = 1
    users: tuple[str, ...] = ()
    signed: bool = True
    due_hours: int = 72


@dataclass(frozen=True)
class DemoPolicy:
    name: str
    environment: str  # slug
    tiers: tuple[str, ...]  # empty: every tier
    description: str
    steps: tuple[DemoStep, ...]
    require_previous_environment: bool = True
    require_current_validation: bool = False
    metric_thresholds: tuple[dict, ...] = ()
    expiry_days: int = 14


HIGH_RISK_PRODUCTION = (
    DemoStep("Model risk review", quorum=2, due_hours=120),
    DemoStep("Security review", users=("sam",)),
    DemoStep("Business owner sign-off", users=("bo",)),
)

# Every pair of environment and risk tier has exactly one most specific policy. The AUC threshold is on the
# critical tier only: every critical model reports an AUC, while high-risk Mortgage LGD is a regression.
POLICIES = [
    DemoPolicy(
        "Development — all tiers",
        "development",
        (),
        "Any model may go to the development sandbox once one approver of its team has looked at it.",
        (DemoStep("Peer review", signed=False, due_hours=48),),
        require_previous_environment=False,
    ),
    DemoPolicy(
        "Staging — low/medium",
        "staging",
        ("low", "medium"),
        "Shadow deployment of lower-risk models after development: one model-risk review.",
        (DemoStep("Model risk review", signed=False),),
    ),
    DemoPolicy(
        "Staging — high/critical",
        "staging",
        ("high", "critical"),
        "Shadow deployment of high-risk models: model risk, then security.",
        (DemoStep("Model risk review", signed=False), DemoStep("Security review", users=("sam",), signed=False)),
    ),
    DemoPolicy(
        "Production — low/medium",
        "production",
        ("low", "medium"),
        "Live decisions from lower-risk models: model risk and the business owner, both signed.",
        (DemoStep("Model risk review"), DemoStep("Business owner sign-off", users=("bo",))),
    ),
    DemoPolicy(
        "Production — high",
        "production",
        ("high",),
        "Live decisions from high-risk models: two model-risk reviewers, security and the business owner, "
        "all signed; the model's periodic validation must be current.",
        HIGH_RISK_PRODUCTION,
        require_current_validation=True,
    ),
    DemoPolicy(
        "Production — critical",
        "production",
        ("critical",),
        "As for high-risk models, and the version must keep an AUC of at least 0.80.",
        HIGH_RISK_PRODUCTION,
        require_current_validation=True,
        metric_thresholds=({"metric": "auc", "op": ">=", "value": 0.8},),
    ),
]


@dataclass(frozen=True)
class Decide:
    approver: str
    comment: str = ""
    outcome: str = "approve"


@dataclass(frozen=True)
class DemoRequest:
    """A deployment request, submitted by `requester`, decided in order, then optionally cancelled, expired or reset."""

    model: str
    version: str
    environment: str  # slug
    requester: str
    justification: str
    decisions: tuple[Decide, ...] = ()
    then: str = ""  # "cancel" (withdrawn: `reason`), "expire", or "reset" (the requester re-exports the artifact)
    reason: str = ""

    @property
    def state(self) -> str:
        """The state the request ends in, given its policy's step count (used by the tests)."""
        final = {"cancel": "cancelled", "expire": "expired", "reset": "draft"}
        if self.then:
            return final[self.then]
        if any(decision.outcome == "reject" for decision in self.decisions):
            return "rejected"
        needed = sum(step.quorum for step in policy_for(self.environment, risk_tier(self.model)).steps)
        return "approved" if len(self.decisions) == needed else "pending"


SME, CHAT, CHURN = "SME Probability of Default", "Support Chat Intent Classifier", "Customer Churn Predictor"
AML, SCORECARD, ATO = "AML Transaction Monitoring", "Retail Credit Scorecard", "Account Takeover Detector"

# In promotion order: a version is approved for an environment before it is requested for the next.
REQUESTS = [
    # SME PD 2.0.0: development → staging → production, four signatures for the critical tier.
    DemoRequest(
        SME,
        "2.0.0",
        "development",
        "omar",
        "2.0.0 adds the 2024 obligor-years and the account-conduct features. Sandbox first, for the "
        "integration tests with the IFRS 9 engine.",
        (Decide("rita", "Sandbox only; run the IFRS 9 integration suite before asking for staging."),),
    ),
    DemoRequest(
        SME,
        "2.0.0",
        "staging",
        "omar",
        "Integration tests pass in development. Shadow-score the SME book through a month-end before the capital run.",
        (
            Decide("rita", "Calibration table checked against MRM-2024-047."),
            Decide("sam", "Feature-store access is read-only; no new data egress."),
        ),
    ),
    DemoRequest(
        SME,
        "2.0.0",
        "production",
        "omar",
        "The shadow month-end matched the champion within tolerance (PD ratio 0.98 to 1.03 in every grade). "
        "Needed for the Q4 IRB capital run.",
        (
            Decide("rita", "Back-testing and calibration are within the validated ranges."),
            Decide("nadia", "The challenger build reproduces the discrimination within 0.005 AUC."),
            Decide("sam", "Container image signed; dependency scan has no high findings."),
            Decide("bo", "Capital impact accepted by SME Credit."),
        ),
    ),
    # The chat intent classifier: a low-risk model all the way to production.
    DemoRequest(
        CHAT,
        "2.1.0",
        "development",
        "tom",
        "2.1.0 adds the three card-dispute intents; wire it into the sandbox chat flows.",
        (Decide("sam"),),
    ),
    DemoRequest(
        CHAT,
        "2.1.0",
        "staging",
        "tom",
        "Sandbox flows pass; shadow the live chat for a week to compare routing.",
        (Decide("rita", "Routing agreement with 2.0.0 is 97%; the new intents explain most differences."),),
    ),
    DemoRequest(
        CHAT,
        "2.1.0",
        "production",
        "tom",
        "A week of shadow routing: accuracy up from 91.3% to 91.6%, macro-F1 level (0.875 against 0.876), no intent "
        "worse. "
        "The service desk wants the dispute intents live.",
        (Decide("rita", "Validated MRM-2024-090 still applies: same architecture, more labels."), Decide("bo")),
    ),
    # Churn: 1.3.0 is live; 1.4.0 waits for model risk in production (the README walk-through).
    DemoRequest(
        CHURN, "1.3.0", "development", "dana", "Quarterly refresh 1.3.0 for the retention campaigns.", (Decide("bo"),)
    ),
    DemoRequest(CHURN, "1.3.0", "staging", "dana", "Shadow the January scoring run.", (Decide("nadia"),)),
    DemoRequest(
        CHURN,
        "1.3.0",
        "production",
        "dana",
        "Shadow run matched expectations; retention team signed up.",
        (Decide("rita", "Lift at 10% holds on the out-of-time sample."), Decide("bo", "Retention budget approved.")),
    ),
    DemoRequest(CHURN, "1.4.0", "development", "dana", "1.4.0 adds service-contact features.", (Decide("rita"),)),
    DemoRequest(
        CHURN,
        "1.4.0",
        "staging",
        "dana",
        "Shadow the month-end scoring run next to 1.3.0.",
        (Decide("nadia", "Shadow scores look sane."),),
    ),
    DemoRequest(
        CHURN,
        "1.4.0",
        "production",
        "dana",
        "1.4.0 beat 1.3.0 on the shadow run: lift at 10% up from 3.29 to 3.35 and recall up, at the same AUC (0.851 "
        "against 0.852). Replace 1.3.0 before the spring campaign.",
    ),
    # AML 3.0.0: model risk has signed twice; the security review (sam) is next.
    DemoRequest(
        AML, "3.0.0", "development", "kenji", "3.0.0 retrained with the 2024 mule typologies.", (Decide("bo"),)
    ),
    DemoRequest(
        AML,
        "3.0.0",
        "staging",
        "kenji",
        "Sandbox replay of Q3 alerts done; shadow the alert queue for two weeks.",
        (Decide("rita"), Decide("sam", "No new data sources; same service account.")),
    ),
    DemoRequest(
        AML,
        "3.0.0",
        "production",
        "kenji",
        "Two weeks of shadow ranking: 12% fewer alerts to reach the same SAR recall. The FIU wants it before year end.",
        (
            Decide("rita", "Validation FVR-2024-015 covers the retrain; thresholds unchanged."),
            Decide("nadia", "Alert volumes by customer segment are stable."),
        ),
    ),
    # The retail scorecard: its validation is overdue, so model risk will not promote it.
    DemoRequest(
        SCORECARD, "2.2.0", "development", "dana", "2.2.0 recalibrated on the Q2 bureau snapshot.", (Decide("sam"),)
    ),
    DemoRequest(
        SCORECARD,
        "2.2.0",
        "staging",
        "dana",
        "Recalibration only, no new features: shadow it next to 2.1.0.",
        (
            Decide(
                "rita",
                "Rejected: the annual validation of this scorecard is overdue. Revalidate (MRM-2024-031 follow-up) "
                "before promoting a high-risk credit model past development.",
                outcome="reject",
            ),
        ),
    ),
    # Account takeover 1.0.0: approved by model risk for staging, then the artifact was re-exported.
    DemoRequest(
        ATO, "1.0.0", "development", "kenji", "First release candidate after the leakage fix.", (Decide("bo"),)
    ),
    DemoRequest(
        ATO,
        "1.0.0",
        "staging",
        "kenji",
        "Sandbox latency within budget; shadow the mobile login flow.",
        (Decide("rita", "Leakage fix confirmed: no post-login features remain."),),
        then="reset",  # kenji re-exports 1.0.0 (same weights, new artifact): rita's approval is void
    ),
    # One of each remaining state.
    DemoRequest(
        "Merchant Risk Classifier",
        "0.3.0",
        "development",
        "kenji",
        "Prototype for the acquiring risk team to try on sandbox onboarding data.",
    ),
    DemoRequest(
        "Marketing Copy Generator",
        "0.3.0",
        "development",
        "tom",
        "Pilot build for the copywriters' sandbox.",
        then="expire",
    ),
    DemoRequest(
        "Campaign Uplift Model",
        "0.3.0",
        "development",
        "dana",
        "Try the T-learner on the spring savings campaign.",
        then="cancel",
        reason="Wrong audience definition; rebuilding on the Q3 campaign data first.",
    ),
]


def risk_tier(model_name: str) -> str:
    return next(model.risk_tier for model in MODELS if model.name == model_name)


def policy_for(environment: str, tier: str) -> DemoPolicy:
    """The demo policy governing `environment` and `tier` (the demo's policies do not overlap)."""
    return next(p for p in POLICIES if p.environment == environment and (not p.tiers or tier in p.tiers))


def reexported_digest(request: DemoRequest) -> str:
    """The new artifact digest of a version whose artifact was re-exported (a "reset" request)."""
    return _digest("re-export", request.model, request.version)


def _digest(*parts: str) -> str:
    return hashlib.sha256("-".join(parts).encode()).hexdigest()


def artifact_digest(spec: DemoModel, version: str) -> str:
    return _digest(spec.slug, version)


def git_commit_sha(spec: DemoModel, version: str) -> str:
    return _digest("commit", spec.slug, version)[:40]


def artifact_uri(spec: DemoModel, version: str) -> str:
    filename = {"pytorch": "model.pt", "transformers": "model.safetensors"}.get(spec.framework, "model.pkl")
    return f"s3://ml-artifacts/{spec.slug}/{version}/{filename}"


def version_author(spec: DemoModel, index: int) -> str:
    """Owners take turns training versions."""
    return spec.owners[index % len(spec.owners)]


def snapshot(spec: DemoModel, index: int) -> str:
    year, quarter = spec.first_snapshot
    months = (quarter - 1) + index
    return f"{year + months // 4}Q{months % 4 + 1}"


def version_metrics(spec: DemoModel, index: int) -> dict:
    """The first version's metrics, a little better with each version, with a deterministic wobble.

    Scores between 0.5 and 1 close part of their gap to 1, so a 0.96 AUC never drifts to an implausible 0.999.
    """
    version = spec.versions[index]
    progress = 0.015 * index
    metrics = {}
    for name, base in spec.metrics.items():
        wobble = (int(_digest(spec.slug, version, name)[:4], 16) / 0xFFFF - 0.5) * 0.04
        if name in LOWER_IS_BETTER:
            value = base * (1 - progress) * (1 + wobble)
        elif 0.5 <= base <= 1:
            value = 1 - (1 - base) * (1 - progress) * (1 + wobble)
        else:
            value = base * (1 + progress) * (1 + wobble)
        metrics[name] = round(value, 1 if name.endswith("_ms") else 4)
    if "precision" in metrics and "recall" in metrics:
        p, r = metrics["precision"], metrics["recall"]
        metrics["f1"] = round(2 * p * r / (p + r), 4)
    if "auc" in metrics:
        metrics["gini"] = round(2 * metrics["auc"] - 1, 4)
    return metrics


def version_parameters(spec: DemoModel, index: int) -> dict:
    parameters = {**PARAMETERS.get(spec.framework, {}), **spec.parameters}
    if "n_estimators" in parameters:
        parameters["n_estimators"] += 50 * index
    parameters["training_snapshot"] = snapshot(spec, index)
    return parameters


def training_data(spec: DemoModel, index: int) -> list[str]:
    return [reference.format(snapshot=snapshot(spec, index)) for reference in spec.datasets]


_LABELS = {"auc": "AUC", "ks": "KS", "psi": "PSI", "rmse": "RMSE", "mae": "MAE", "r2": "R²", "f1": "F1"}


def _metric_label(name: str) -> str:
    return _LABELS.get(name, name.replace("_", " ").capitalize())


def model_card(spec: DemoModel, index: int) -> str:
    """A Markdown model card in the usual sections, with the metrics next to the previous version's."""
    version = spec.versions[index]
    metrics = version_metrics(spec, index)
    previous = version_metrics(spec, index - 1) if index else {}
    lineage = f"derived from {spec.versions[index - 1]}" if index else "first version"
    rows = "\n".join(
        f"| {_metric_label(name)} | {value:g} | {previous[name]:g} |" if name in previous else
        f"| {_metric_label(name)} | {value:g} | — |"
        for name, value in metrics.items()
    )  # fmt: skip
    references = "\n".join(f"- `{reference}`" for reference in training_data(spec, index))
    owners = ", ".join(full_name(owner) for owner in spec.owners)
    return f"""# {spec.name} {version}

{spec.description}

## Model details

- **Team:** {spec.team}; **owners:** {owners}; **independent validator:** {full_name(spec.validator)}
- **Version:** {version} ({lineage}), commit `{git_commit_sha(spec, version)[:12]}`
- **Algorithm:** {spec.algorithm}
- **Framework:** {spec.framework}
- **Risk tier:** {spec.risk_tier}; **EU AI Act category:** {spec.ai_act}

## Intended use

{spec.intended_use}

**Out of scope:** {spec.out_of_scope}

## Training data

{spec.training} Data snapshot: {snapshot(spec, index)}.

{references}

## Evaluation

Out-of-time holdout: the quarter after the training snapshot. Previous: {spec.versions[index - 1] if index else "none"}.

| Metric | Value | Previous |
| --- | ---: | ---: |
{rows}

## Ethical considerations

{spec.ethics}

## Caveats

{spec.limitations} {spec.caveats}
"""


@dataclass(frozen=True)
class GitOpsRollout:
    """One commit of the demo's GitOps repository: `model` `version` declared in `environment`'s manifests."""

    model: str
    version: str
    environment: str
    message: str


# What the platform team rolled out, in order: every approved request, plus one change nobody approved.
GITOPS_ROLLOUTS = [
    GitOpsRollout(SME, "2.0.0", "development", "Roll out SME PD 2.0.0 to development"),
    GitOpsRollout(CHAT, "2.1.0", "development", "Roll out chat intents 2.1.0 to development"),
    GitOpsRollout(CHURN, "1.3.0", "development", "Roll out churn 1.3.0 to development"),
    GitOpsRollout(SCORECARD, "2.2.0", "development", "Roll out the recalibrated scorecard 2.2.0 to development"),
    GitOpsRollout(ATO, "1.0.0", "development", "Roll out account takeover 1.0.0 to development"),
    GitOpsRollout(SME, "2.0.0", "staging", "Promote SME PD 2.0.0 to staging"),
    GitOpsRollout(CHAT, "2.1.0", "staging", "Promote chat intents 2.1.0 to staging"),
    GitOpsRollout(CHURN, "1.3.0", "staging", "Promote churn 1.3.0 to staging"),
    GitOpsRollout(SME, "2.0.0", "production", "Promote SME PD 2.0.0 to production (IRB capital run)"),
    GitOpsRollout(CHAT, "2.1.0", "production", "Promote chat intents 2.1.0 to production"),
    GitOpsRollout(CHURN, "1.3.0", "production", "Promote churn 1.3.0 to production"),
    GitOpsRollout(CHURN, "1.4.0", "development", "Roll out churn 1.4.0 to development"),
    GitOpsRollout(CHURN, "1.4.0", "staging", "Shadow churn 1.4.0 in staging"),
    GitOpsRollout(AML, "3.0.0", "development", "Roll out AML 3.0.0 to development"),
    GitOpsRollout(AML, "3.0.0", "staging", "Shadow AML 3.0.0 in staging"),
    # The exception the demo keeps: the production request still waits for the security review.
    GitOpsRollout(AML, "3.0.0", "production", "Hotfix: AML 3.0.0 to production for the year-end FIU deadline"),
]
