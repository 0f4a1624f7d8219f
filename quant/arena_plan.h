// Where an int8 graph's tensors live while it runs: one arena, planned once
// for a batch size, shared by every backend of the graph walk
// (quant/int8_runner.h); the CPU backend also runs its row groups from it.
#pragma once
#include <cstdint>
#include <vector>

#include "quant/int8_model.h"
#include "quant/row_tiling.h"

namespace ecg::quant {

// Static arena plan: every tensor gets an offset so that tensors alive at the
// same time never overlap (greedy first fit by size, from lifetimes in
// execution order), for a given batch size.
//
// in_place_residual: a conv with a fused residual add may write its output
// over the residual when that conv is the residual's last reader and both
// have the same size. Every int8 epilogue (and the float-fallback path) reads
// residual[i] before it writes output[i] and touches no other element of
// either, so this is exact; it saves one full-size tensor per block (at
// 224 px, a 3.2 MB stage-0 tensor). Those two tensors are then the only
// pairs that overlap while alive.
//
// row tiling (rt.slabs > 0): the leading convolutions run as one row group
// (quant/row_tiling.h) with rt.slabs slabs: nodes [0, rt.last], or by
// default the prefix whose plan has the smallest peak (a longer prefix only
// when it saves more than 1 %; none when no prefix saves that much), with
// rt.band_rows-row bands, or 4, 2, 1 rows when the larger band does not bring
// the peak 10 % below layer by layer (many slabs). Its
// windowed tensors get no whole-tensor bytes: offset[t] is then the tensor's
// window in slab 0's block, window_block[0] the start of the `slabs` blocks,
// all alive while the group runs. ResNet-11 at 224 px, batch 1: 5.62 MB
// layer by layer; 2.81 / 3.68 / 4.80 MB with 1 / 2 / 4 slabs (8-row bands),
// 4.16 MB with 8 (2-row), 4.62 MB with 16 (1-row); the test prints them.
struct ArenaPlan {
  std::vector<int64_t> offset;        // per tensor
  int64_t bytes = 0;                  // planned peak
  int64_t naive_bytes = 0;            // sum of all tensors (no reuse)
  std::vector<RowGroup> row_groups;   // empty without row tiling
  std::vector<int64_t> window_block;  // per row group
};
ArenaPlan plan_arena(const Int8Model& m, int batch, bool reuse = true,
                     bool in_place_residual = false,
                     const RowTilingOptions& rt = RowTilingOptions::off());

}  // namespace ecg::quant
