# podsift's image: `docker build -t REGISTRY/podsift:0.1.0 .` (see README, "Deploying").
FROM python:3.11-slim
COPY . /src
RUN pip install --no-cache-dir /src \
    # add your third-party policy plugins here, e.g.:
    && pip install --no-cache-dir /src/examples/podsift-example-plugin \
    && rm -rf /src
USER 65532:65532
ENTRYPOINT ["podsift"]
