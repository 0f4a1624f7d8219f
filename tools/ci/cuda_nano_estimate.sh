#!/usr/bin/env bash
# Speed on paper for the Jetson Nano: compiles the CUDA kernels for sm_53 with
# the cached CUDA 11.8 (tools/ci/cuda_sm53.sh), disassembles the convolution
# objects with its cuobjdump, and prints the predicted ResNet-11 batch-1 times
# per layer (tools/ci/cuda_nano_estimate.py explains the model; the FP16 path's
# table comes from cuda_nano_estimate_fp16.py). Needs no GPU.
# Usage: tools/ci/cuda_nano_estimate.sh   (about 30 s with the toolkit cached)
set -euo pipefail
cd "$(dirname "$0")/../.."
export ECG_CUDA118_DIR=${ECG_CUDA118_DIR:-$HOME/.cache/ecgcnn/cuda-11.8}
bash tools/ci/cuda_sm53.sh kernels/cuda/conv2d.cu kernels/cuda/conv_int8.cu kernels/cuda/batch_norm.cu \
  kernels/cuda/elementwise.cu kernels/cuda/pool.cu kernels/cuda/softmax_xent.cu kernels/cuda/linear.cu \
  kernels/cuda/conv_fp16.cu kernels/cuda/pool_fp16.cu >/dev/null
bin=$(realpath -m "$ECG_CUDA118_DIR")/root/usr/bin
out=build-cuda-sm53
"$bin/cuobjdump" -sass "$out/kernels_cuda_conv2d.cu.o" >"$out/conv2d.sass"
"$bin/cuobjdump" -sass "$out/kernels_cuda_conv_int8.cu.o" >"$out/conv_int8.sass"
"$bin/cuobjdump" -sass "$out/kernels_cuda_conv_fp16.cu.o" >"$out/conv_fp16.sass"
if grep -q "DP4A" "$out/conv_int8.sass" "$out/conv_fp16.sass"; then
  echo "cuda_nano_estimate: the sm_53 object contains DP4A (must not)" >&2
  exit 1
fi
python3 tools/ci/cuda_nano_estimate.py "$out/ptxas.log" "$out/conv2d.sass" "$out/conv_int8.sass"
# The FP16 (half2) path on the int8 weights (conv_fp16.cuh): HFMA2 per K step.
echo
python3 tools/ci/cuda_nano_estimate_fp16.py "$out/ptxas.log" "$out/conv_fp16.sass"
