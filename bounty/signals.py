"""Domain signals. Sent inside the service's transaction, so a receiver that
writes rows (an outbox entry, an index job) commits or rolls back with the change.
Receivers must not do slow I/O: record work, do it after commit."""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: sender=challenge; kwargs: transition (transitions.Transition), actor (User | None), comment
challenge_transitioned = _signals.signal("challenge-transitioned")
#: sender=certification application or market listing (bounty.registry Lifecycle);
#: kwargs: transition, actor (User | None), comment (str)
registry_transitioned = _signals.signal("registry-transitioned")
#: sender=challenge; kwargs: actor (User) — created or edited while a draft/returned
challenge_saved = _signals.signal("challenge-saved")
#: sender=bid; kwargs: actor (User), submitted (bool), created (bool)
bid_saved = _signals.signal("bid-saved")
#: sender=bid; kwargs: actor (User)
bid_withdrawn = _signals.signal("bid-withdrawn")
#: sender=milestone; kwargs: actor (User), action ("report" | "confirm")
milestone_changed = _signals.signal("milestone-changed")
#: sender=organization; kwargs: actor (User | None) — profile, expertise or verification changed
organization_saved = _signals.signal("organization-saved")
#: sender=invitation (matching.models.Invitation); kwargs: actor (User) — an enterprise
#: invited an institute to bid on its open challenge
institute_invited = _signals.signal("institute-invited")
#: sender=user; kwargs: none — a self-registered user was created (registration sends it
#: inside its transaction; digests give institutes a default subscription)
user_registered = _signals.signal("user-registered")
#: sender=email (str); kwargs: token (str, completes the registration), locale
registration_requested = _signals.signal("registration-requested")
#: sender=user whose email someone tried to register again; kwargs: locale
registration_repeated = _signals.signal("registration-repeated")
#: sender=review task (bounty.review.assignment.ReviewTask); kwargs: assignee (User), actor
#: (User | None: None for automatic assignment)
review_assigned = _signals.signal("review-assigned")
#: sender=review task; kwargs: assignee (User | None), due_at (datetime) — sent once per task
review_overdue = _signals.signal("review-overdue")
