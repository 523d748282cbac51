"""Imports every model so that metadata and Alembic see all tables."""

from .accounts.models import Organization, User  # noqa: F401
from .audit import AuditEvent, AuditHead  # noqa: F401
from .challenges.models import (  # noqa: F401
    Attachment,
    Bid,
    Challenge,
    ChallengeIndicator,
    Milestone,
)
from .digests.models import (  # noqa: F401
    ChallengeVisit,
    NotificationPreference,
    OutboxBody,
    OutboxEmail,
    Subscription,
)
from .matching.models import DocVector, IndexJob, IndexRebuild, Invitation  # noqa: F401
from .review.assignment import ReviewTask, TaskDecline  # noqa: F401
from .review.certification import CertificationApplication, CertificationIndicator  # noqa: F401
from .review.conflicts import (  # noqa: F401
    ConflictDeclaration,
    ConflictOverride,
    OrganizationMembership,
)
from .review.market import MarketDeal, MarketListing  # noqa: F401
from .review.models import ReviewDecision  # noqa: F401
from .review.registry import RegistryCounter, RegistryDecision, RegistryDocument  # noqa: F401
from .review.stages import ReviewStage, RubricCriterion  # noqa: F401
from .review.workdays import Holiday  # noqa: F401
from .stats import tracking  # noqa: F401  (keeps the statistics current on every flush)
from .stats.models import StageStay, StatsCount  # noqa: F401
