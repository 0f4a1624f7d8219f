// nvcc translation unit of the emulator's self-test kernels: proves that the
// text the emulator runs is CUDA that nvcc accepts, for every arch of the
// compile matrix (tools/ci/cuda_compile_matrix.sh, tools/ci/cuda_sm53.sh).
#include "tests/cuda_emu/selftest_kernels.cuh"

namespace ecg {
namespace emu_selftest {

// Explicit instantiations make nvcc compile each template for the report.
template __global__ void block_sum<0>(const float*, float*, int);
template __global__ void block_sum<1>(const float*, float*, int);
template __global__ void block_sum<2>(const float*, float*, int);

}  // namespace emu_selftest
}  // namespace ecg
