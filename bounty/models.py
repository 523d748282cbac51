"""Imports every model so that metadata and Alembic see all tables."""

from .accounts.models import Organization, OrganizationMembership, User  # noqa: F401
from .audit import AuditEvent, AuditHead  # noqa: F401
from .certification.models import CertificationApplication, CertificationIndicator  # noqa: F401
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
from .market.models import MarketDeal, MarketListing  # noqa: F401
from .matching.models import DocVector, IndexJob, IndexRebuild, Invitation  # noqa: F401
from .registry.models import RegistryCounter, RegistryDocument  # noqa: F401
from .review.assignment import ReviewTask, TaskDecline  # noqa: F401
from .review.conflicts import ConflictDeclaration, ConflictOverride  # noqa: F401
from .review.models import ReviewDecision  # noqa: F401
from .review.stages import ReviewStage, RubricCriterion  # noqa: F401
from .review.workdays import Holiday  # noqa: F401
from .stats import tracking  # noqa: F401  (keeps the statistics current on every flush)
from .stats.models import StageStay, StatsCount  # noqa: F401
from .uploadstore import FileChunk, StoredFile  # noqa: F401
