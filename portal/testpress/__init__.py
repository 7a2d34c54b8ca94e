"""Everything that speaks Testpress: the signing rules, and the code built on them."""
