import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))
# What mim (and mtcp's own config lookup) finds in an installed package:
# <site-packages>/mtcp/.mim/{configs,tools,model-index.yml}.
MIM_FILES = ("configs", "tools", "model-index.yml")
MIM_PATH = osp.join(HERE, "mtcp", ".mim")


def read_requirements(path):
    """Return the requirement lines of ``path`` (comments and blanks dropped)."""
    with open(osp.join(HERE, path)) as f:
        return [
            line.strip()
            for line in f
            if line.strip() and not line.startswith(("#", "-"))
        ]


def get_version():
    scope = {}
    with open(osp.join(HERE, "mtcp", "version.py")) as f:
        exec(f.read(), scope)
    return scope["__version__"]


def add_mim_extension():
    """Copy the configs, the tools and the model index into ``mtcp/.mim``.

    Done when building an sdist or a wheel (``pip install .`` and
    ``python -m build`` build one), so that the installed package carries
    them as OpenMMLab packages do: ``mim train mtcp mtcp_demo.py`` and
    ``mim run mtcp <tool>`` find them there, and so does
    :func:`mtcp.utils.find_config`. An editable install needs no copy: the
    lookup falls back to the checkout's ``configs/``. In a build from the
    sdist the originals are absent and the copy the sdist holds is kept.

    Returns:
        bool: Whether the copy was made (and is removed after the build).
    """
    if not {"sdist", "bdist_wheel", "build", "build_py"} & set(sys.argv):
        return False
    if not all(osp.exists(osp.join(HERE, name)) for name in MIM_FILES):
        return False
    shutil.rmtree(MIM_PATH, ignore_errors=True)
    os.makedirs(MIM_PATH)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in MIM_FILES:
        src, dst = osp.join(HERE, name), osp.join(MIM_PATH, name)
        if osp.isdir(src):
            shutil.copytree(src, dst, ignore=ignore)
        else:
            shutil.copyfile(src, dst)
    return True


copied = add_mim_extension()
setup(
    name="mtcp",
    version=get_version(),
    description="MT-CP: multi-task dense scene understanding with coherence "
    "fusion and loss prioritisation, for OpenMMLab",
    long_description=open(osp.join(HERE, "README.md")).read(),
    long_description_content_type="text/markdown",
    packages=find_packages(exclude=("configs", "tools", "tests", "docs")),
    # mtcp/.mim, listed in MANIFEST.in
    include_package_data=True,
    python_requires=">=3.10",
    # mmcv (with ops) and torch are installed by tools/install.sh: they must
    # match the user's CUDA, so pip must not pick them here.
    install_requires=read_requirements("requirements/runtime.txt"),
    extras_require=dict(
        tests=read_requirements("requirements/tests.txt"),
        deploy=read_requirements("requirements/deploy.txt"),
    ),
    license="Apache License 2.0",
    zip_safe=False,
)
if copied:  # the checkout keeps its configs/ and tools/ only
    shutil.rmtree(MIM_PATH)
