"""HTTP glue for SAMP (the viewer's Web Profile client does the messaging itself, with the hub, in the browser):

GET /samp/image?url=U     the image (FIF) of the data folder that a file: URL names, for image.load.fits: {"image"}
GET /samp/votable?path=P  a CSV catalog of the extra folder as a VOTable, for table.load.votable
GET /sampjs               sampjs, the Web Profile library (npm), loaded by the viewer when the user connects
"""

from __future__ import annotations

from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import access, samp
from ..errors import Forbidden, ImageNotFound, UnsupportedImage
from ..overlays import extra

NO_STORE = {"Cache-Control": "no-store"}


async def image_of_url(request: Request) -> Response:
    engine = request.app.state.engine
    relative = samp.relative_path(request.query_params.get("url", ""), engine.data_dir)
    try:
        # The one door, with the user's access rules: the same answer as FIF would get, or one refusal for all.
        await run_in_threadpool(engine.locate, relative, access.user_of(request.scope))
    except (ImageNotFound, Forbidden):
        raise ImageNotFound(samp.NOT_HERE, "url") from None
    return JSONResponse({"image": relative}, headers=NO_STORE)


async def catalog_votable(request: Request) -> Response:
    relative = request.query_params.get("path", "")
    found = extra.format_of(relative)
    if found is None or found[1] != "csv":
        raise UnsupportedImage("only CSV catalogs of the extra folder are converted (VOTables are sent as they are)",
                               "path")
    data = await run_in_threadpool(extra.read, request.app.state.settings.extra_dir, relative)
    body = await run_in_threadpool(samp.csv_to_votable, data, Path(relative).name)
    return Response(body, media_type="application/x-votable+xml", headers=NO_STORE)


def routes() -> list[Route]:
    return [
        Route("/samp/image", image_of_url, methods=["GET", "HEAD"]),
        Route("/samp/votable", catalog_votable, methods=["GET", "HEAD"]),
    ]
