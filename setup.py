import os.path as osp

from setuptools import find_packages, setup


def read_requirements(path):
    """Return the requirement lines of ``path`` (comments and blanks dropped)."""
    with open(osp.join(osp.dirname(__file__), path)) as f:
        return [
            line.strip()
            for line in f
            if line.strip() and not line.startswith(("#", "-"))
        ]


def get_version():
    scope = {}
    with open(osp.join(osp.dirname(__file__), "mtcp", "version.py")) as f:
        exec(f.read(), scope)
    return scope["__version__"]


setup(
    name="mtcp",
    version=get_version(),
    description="MT-CP: multi-task dense scene understanding with coherence "
    "fusion and loss prioritisation, for OpenMMLab",
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(exclude=("configs", "tools", "tests", "docs")),
    python_requires=">=3.8",
    # mmcv (with ops) and torch are installed by tools/install.sh: they must
    # match the user's CUDA, so pip must not pick them here.
    install_requires=read_requirements("requirements/runtime.txt"),
    extras_require=dict(tests=read_requirements("requirements/tests.txt")),
    license="Apache License 2.0",
    zip_safe=False,
)
