"""Platform statistics (/stats), kept up to date as the platform changes: counts and sums
in :class:`~bounty.stats.models.StatsCount`, each stay of an item in a state in
:class:`~bounty.stats.models.StageStay`, both written in the transaction of the change
(:mod:`bounty.stats.tracking`), so the page reads a few small rows whatever the history.

The review core knows nothing of this package; it reads the review models.
"""
