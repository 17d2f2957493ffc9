"""The API's documentation pages, served by the app itself: Swagger UI and the problem types."""

from fundament.apidocs.pages import DOCS_CSP, install_docs
from fundament.apidocs.problem_types import CATALOGUE, ProblemType, markdown

__all__ = ["CATALOGUE", "DOCS_CSP", "ProblemType", "install_docs", "markdown"]
