#!/usr/bin/env bash
# Build the one-folder desktop bundle of Deform & Learn Studio with PyInstaller (Linux).
#
#   bash packaging/build.sh            # -> packaging/dist/deformlearn/  (run ./deformlearn inside it)
#   bash packaging/build.sh --smoke    # ... then start it under Xvfb on the demo project and screenshot it
#   bash packaging/build.sh --cpu-only # ... without cuDNN's engine libraries (0.9 GB; loaded only on a GPU)
#
# Uses the project's virtual environment (.venv, made by scripts/setup.sh) and installs PyInstaller into
# it (a build tool, not a product dependency). The bundle holds what that environment's torch needs: with
# PyPI's CUDA build of torch that is the CUDA libraries too (several GB; see packaging/README.md).
# Not part of CI.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
DIST="$HERE/dist"
WORK="$HERE/build"
SMOKE=0
CPU_ONLY=0
for arg in "$@"; do
    case "$arg" in
        --smoke) SMOKE=1 ;;
        --cpu-only) CPU_ONLY=1 ;;
        *) echo "usage: $0 [--smoke] [--cpu-only]" >&2; exit 2 ;;
    esac
done

if [[ ! -x "$VENV/bin/python" ]]; then
    echo "no virtual environment at $VENV: run scripts/setup.sh first (or set VENV)" >&2
    exit 1
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"
python -m PyInstaller --version >/dev/null 2>&1 || pip install --quiet "pyinstaller>=6.10"
# This checkout's code as a plain `deformlearn` package (the venv's editable install maps core/ app/
# resources/ through an import hook that PyInstaller's analysis does not follow).
STAGE="$WORK/src"
rm -rf "$STAGE" && mkdir -p "$STAGE/deformlearn"
touch "$STAGE/deformlearn/__init__.py"
for part in core app resources; do
    cp -r "$ROOT/$part" "$STAGE/deformlearn/$part"
done
find "$STAGE" -name __pycache__ -prune -exec rm -rf {} +
export DEFORMLEARN_STAGE="$STAGE" PYTHONPATH="$STAGE${PYTHONPATH:+:$PYTHONPATH}"

start=$(date +%s)
(cd "$HERE" && python -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$DIST" --workpath "$WORK" deformlearn.spec)
BUNDLE="$DIST/deformlearn"
cp "$HERE/deformlearn.png" "$BUNDLE/deformlearn.png"
sed "s#@BUNDLE@#$BUNDLE#g" "$HERE/deformlearn.desktop.in" > "$BUNDLE/deformlearn.desktop"
chmod +x "$BUNDLE/deformlearn.desktop"
if [[ $CPU_ONLY == 1 ]]; then
    # libcudnn.so.9 (which libtorch_cuda links) stays; it loads these only when cuDNN runs on a GPU.
    rm -f "$BUNDLE"/_internal/nvidia/cudnn/lib/libcudnn_*.so.*
fi
echo "built $BUNDLE in $(( $(date +%s) - start )) s, $(du -sh "$BUNDLE" | cut -f1)"
echo "launcher: $BUNDLE/deformlearn.desktop (copy it to ~/.local/share/applications/ to install it)"

if [[ $SMOKE == 1 ]]; then
    bash "$HERE/smoke.sh" "$BUNDLE"
fi
