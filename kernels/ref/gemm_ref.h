// Scalar reference GEMM: C = alpha * op(A) * op(B) + beta * C, row-major.
// op(A) is M x K (A is K x M when trans_a), op(B) is K x N.
#pragma once

namespace ecg::ref {

template <class T>
void gemm(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T* A, int lda, const T* B,
          int ldb, T beta, T* C, int ldc) {
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      T acc = T(0);
      for (int k = 0; k < K; ++k) {
        T a = trans_a ? A[k * lda + i] : A[i * lda + k];
        T b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
        acc += a * b;
      }
      // beta == 0 must ignore C entirely (it may hold NaN garbage), as BLAS does.
      C[i * ldc + j] = alpha * acc + (beta == T(0) ? T(0) : beta * C[i * ldc + j]);
    }
}

}  // namespace ecg::ref
