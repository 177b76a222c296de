# podsift's image: `docker build -t REGISTRY/podsift:0.1.0 .` (see README, "Deploying").
#
# Two stages. `build` has pip, setuptools and the sources; the final stage gets only
# the finished virtual environment /opt/podsift, so no build tool, source tree, or
# anything else from the build context ships. Each stage COPYs named paths only (and
# .dockerignore allow-lists the same paths), so local keys, .git, .venv, caches and
# bench-results never reach a layer. tests/test_image.py checks both.
#
# What the image runs is pinned: the base by version tag and digest (one name for
# both stages), every runtime dependency by version and hash in requirements.lock, the
# build backend in requirements-build.lock. `./dev lock` regenerates both locks from
# pyproject.toml; the base digest of a tag: `docker buildx imagetools inspect TAG`.
ARG BASE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

FROM ${BASE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
# /opt/build: pip and the pinned build backend. /opt/podsift: what ships, without pip.
RUN python -m venv /opt/build && python -m venv --without-pip /opt/podsift
COPY requirements.lock requirements-build.lock /src/
RUN /opt/build/bin/pip install --require-hashes --only-binary=:all: \
        -r /src/requirements-build.lock \
    && /opt/build/bin/pip --python /opt/podsift/bin/python install --require-hashes \
        --only-binary=:all: --no-deps -r /src/requirements.lock
COPY pyproject.toml README.md /src/
COPY extender /src/extender
COPY policies /src/policies
COPY bench /src/bench
# Third-party policy plugins: COPY each one here and add it to the `pip wheel` line
# below (its dependencies must be in requirements.lock; add them to a pyproject of
# your own and re-run ./dev lock, or install them here with --require-hashes).
COPY examples/podsift-example-plugin /src/examples/podsift-example-plugin
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /wheels \
        /src /src/examples/podsift-example-plugin \
    && /opt/build/bin/pip --python /opt/podsift/bin/python install --no-deps --no-index \
        /wheels/*.whl \
    # byte-compile now: the root filesystem is read-only at run time
    && /opt/podsift/bin/python -m compileall -q -f --invalidation-mode unchecked-hash /opt/podsift

FROM ${BASE}
COPY --from=build /opt/podsift /opt/podsift
ENV PATH=/opt/podsift/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# Nothing is written at run time except gunicorn's worker heartbeat file in /tmp
# (the manifests mount an emptyDir there under readOnlyRootFilesystem).
USER 65532:65532
ENTRYPOINT ["podsift"]
