"""The SERVICE deployment platform: an HTTP inference server managed by mlreg.

- ``platform``: options, deploy/predict/status/delete for the registry;
- ``spec``: what a server needs to serve one model (no secrets);
- ``app``: the ASGI app (Starlette, imported lazily);
- ``payloads``: request bodies in, predictions out (no web framework);
- ``batching``: scores concurrent small requests in one call, large ones on a thread;
- ``server``: runs it on uvicorn, in the foreground or detached;
- ``supervisor``: starts, watches and stops detached servers;
- ``client``: scores data through a service over HTTP;
- ``container``: writes (and builds) a container build context.

A token-protected service takes its bearer token from ``auth_token`` at deploy time;
other processes that score through it (``model.predict``, ``mlreg predict``) read it
from the ``MLREG_SERVICE_TOKEN`` environment variable. It is never recorded.
"""

from mlreg.deploy.service.platform import ServicePlatform

__all__ = ["ServicePlatform"]
