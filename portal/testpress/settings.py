"""The Testpress settings of this installation, read once from the app's config."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from portal.testpress.signing import ENCODINGS, WEBHOOK_DIGEST_LENGTHS


@dataclass(frozen=True)
class TestpressSettings:
    base_url: str
    public_key: str
    secret: str
    private_key: str
    encoding: str
    webhook_algorithms: tuple[str, ...]
    launch_ttl: int
    api_username: str
    api_password: str
    timeout: float

    __test__ = False  # not a pytest test class, despite its name

    @classmethod
    def from_config(cls, config) -> TestpressSettings:
        encoding = config["TESTPRESS_PERCENT_ENCODING"]
        if encoding not in ENCODINGS:
            raise ValueError(f"TESTPRESS_PERCENT_ENCODING must be one of {', '.join(ENCODINGS)}, not {encoding!r}")
        algorithms = tuple(a.strip().lower() for a in str(config["TESTPRESS_WEBHOOK_ALGORITHMS"]).split(",")
                           if a.strip())
        unknown = [a for a in algorithms if a not in WEBHOOK_DIGEST_LENGTHS]
        if unknown or not algorithms:
            raise ValueError("TESTPRESS_WEBHOOK_ALGORITHMS must list some of sha512, sha256, "
                             f"not {unknown or 'nothing'}")
        return cls(
            base_url=str(config["TESTPRESS_BASE_URL"]).rstrip("/"),
            public_key=config["TESTPRESS_PUBLIC_KEY"],
            secret=config["TESTPRESS_SECRET"],
            private_key=config["TESTPRESS_PRIVATE_KEY"] or config["TESTPRESS_SECRET"],
            encoding=encoding,
            webhook_algorithms=algorithms,
            launch_ttl=int(config["TESTPRESS_LAUNCH_TTL"]),
            api_username=config["TESTPRESS_API_USERNAME"],
            api_password=config["TESTPRESS_API_PASSWORD"],
            timeout=float(config["TESTPRESS_TIMEOUT"]),
        )


def testpress_settings() -> TestpressSettings:
    """The current app's settings, parsed and checked by `create_app`."""
    return current_app.extensions["testpress_settings"]
