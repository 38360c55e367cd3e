"""Emulator of Bunny's GraphQL API (OAuth2 client credentials + Bunny's real SDL). Tests, benchmarks and the
CLI import it; product code never does."""
