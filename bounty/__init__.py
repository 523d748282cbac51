"""bounty: the 揭榜挂帅 challenge-bounty platform."""
