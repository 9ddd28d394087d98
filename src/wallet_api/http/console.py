"""The operator console: its page at /console and its files under /console/, from the package."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles

CONSOLE_DIR = Path(__file__).resolve().parent.parent / "console"

router = APIRouter(include_in_schema=False)


@router.get("/console")
@router.get("/console/")
async def console_page() -> FileResponse:
    return FileResponse(CONSOLE_DIR / "index.html", media_type="text/html; charset=utf-8")


def mount_console(app: FastAPI) -> None:
    """The page's route, then its files: scripts and the stylesheet, never a directory listing."""
    app.include_router(router)
    app.mount("/console", StaticFiles(directory=CONSOLE_DIR), name="console")
