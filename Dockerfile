# The image the docker sandbox runs submissions in: Python, TensorFlow and the
# grader's child side, without the reference solutions, which never enter a
# sandbox. Build it on the grading host, then name it when grading:
#
#   docker build -t nngrade-runner .
#   nngrade grade CLASS --sandbox docker --docker-image nngrade-runner
#
# Packages a course allows beyond the assignment's (a spec's allowed_packages)
# go in with --build-arg EXTRA_PACKAGES="pandas scikit-learn".
ARG BASE=python:3.11-slim
FROM ${BASE}
ARG EXTRA_PACKAGES=""
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
COPY pyproject.toml README.md /src/
COPY grader /src/grader
COPY reference /src/reference
COPY templates /src/templates
COPY uci_datasets /src/uci_datasets
COPY submissions /src/submissions
RUN python3 -m pip install /src ${EXTRA_PACKAGES} \
    && rm -rf /src \
    && python3 -c "import os, shutil, reference; shutil.rmtree(os.path.dirname(reference.__file__))"
# The grader runs jobs as nobody; an image run by hand does too.
USER 65534:65534
