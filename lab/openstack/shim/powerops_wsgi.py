"""gunicorn entry point for the lab's OpenStack API services (runs in the OpenStack venv, not the project's).

Keystone, Placement and Neutron parse sys.argv with oslo.config at import, so under gunicorn they would die
with "unrecognized arguments: --bind": reset argv (to POWEROPS_WSGI_ARGS, for cinder's --config-file)
before importing the app named by POWEROPS_WSGI_APP.
"""

import importlib
import os
import shlex
import sys

sys.argv = [sys.argv[0], *shlex.split(os.environ.get("POWEROPS_WSGI_ARGS", ""))]
_module = importlib.import_module(os.environ["POWEROPS_WSGI_APP"])
application = _module.application

if os.environ["POWEROPS_WSGI_APP"].startswith("neutron"):
    import sqlalchemy.orm

    sqlalchemy.orm.configure_mappers()
