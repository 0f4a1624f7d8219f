// Cross-layer row tiling of the int8 graph: a run of convolutions at the
// start of the network executes a few output rows at a time, so the tensors
// that live only inside the run are held as windows of a few rows instead of
// whole images.
//
// Why: layer-by-layer execution of ResNet-11 at 224 px needs 5.6 MB of
// activations at its peak (stage 1's first block: the 224x224x64 stage-0
// output, 3.2 MB, must stay alive while both its 3x3 stride-2 conv and its
// 1x1 shortcut read it). Banding stem .. stage-1 convs removes every
// full-resolution tensor from the arena: only the group's inputs (the
// image) and outputs (the stage-1 tensors) stay whole.
//
// How (per image, per slab):
//  - The group's outputs (tensors read after the group) are split into
//    `slabs` horizontal slabs, one per thread; each slab runs independently
//    with its own windows, so the threads never synchronise inside the group
//    (one parallel region for the whole group instead of one per layer). The
//    rows of intermediate tensors that two neighbouring slabs both need (the
//    halo, a few rows per layer) are computed by both.
//  - A slab advances in steps of `band_rows` output rows. Each step asks
//    every layer, from the last back to the first, for the rows its
//    consumers need (a conv's output rows [p0, p1) read input rows
//    [p0*stride - pad_top, (p1-1)*stride - pad_top + R)), then runs the
//    layers in order on the new rows only (PackedConvInt8::run_rows). A
//    window drops the rows no consumer will read again by moving the rest
//    to its front, so rows are computed once per slab, never recomputed per
//    step.
//  - The schedule is a pure function of the graph and the slab, so the
//    planner walks it without data to size every window.
// Every byte equals layer-by-layer execution: each conv runs the same kernel
// on the same input values (tests/quant/test_row_tiling.cpp).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

namespace ecg::quant {

struct Int8Model;

// How the planner uses row tiling. slabs = 0: not at all. last >= 0: the
// group is nodes [0, last] (tests, experiments); -1: the planner's choice.
struct RowTilingOptions {
  int slabs = 0;
  int band_rows = 8;
  int last = -1;
  static RowTilingOptions off() { return {}; }
  // One slab per thread (ecg::num_threads()), 8-row bands; the environment
  // variable ECG_INT8_ROW_TILING=off turns it off and =N sets the band rows
  // (for measuring both ways with one binary).
  static RowTilingOptions per_thread();
};

struct RowGroup {
  int first = 0, last = -1;  // nodes [first, last] in execution order (int8 convs)
  int slabs = 1;             // independent slabs (one per thread)
  int band_rows = 8;         // rows of the group's outputs per step
  // Tensors held as row windows: produced inside the group and read only by
  // it. Per windowed tensor: capacity in rows and byte offset inside one
  // slab's window block (64-byte aligned).
  std::vector<int> windowed;
  std::vector<int> window_rows;
  std::vector<int64_t> window_offset;
  int64_t window_bytes = 0;        // one slab's block; the arena holds `slabs` of them
  int index_of(int tensor) const;  // position in `windowed`, or -1
};

// Whether nodes [first, last] can run as a row group: int8 convolutions with
// int8 outputs, and every tensor they produce is read either only inside the
// group or only after it.
bool valid_row_group(const Int8Model& m, int first, int last);

// The group with windows sized by a dry walk of every slab's schedule.
RowGroup make_row_group(const Int8Model& m, int first, int last, int slabs, int band_rows = 8);

// Where a tensor's rows are during a walk: a windowed tensor holds rows
// [row0, row0 + rows) at the front of its window; any other tensor is whole
// (row0 = 0, rows = its height).
struct RowWindow {
  int row0 = 0, rows = 0;
};

// Walks the schedule of one slab of one image:
//  compute(node, p0, p1): run the node on its output rows [p0, p1); every
//    input row it reads is in its inputs' windows (window_of).
//  drop(tensor, rows): a windowed tensor drops its first `rows` rows (the
//    caller moves the rest to the front of the window) before new rows are
//    written after them.
// window_of(tensor) is valid inside the callbacks.
class RowWalk {
 public:
  RowWalk(const Int8Model& m, const RowGroup& g, int slab);
  void run(const std::function<void(int node, int p0, int p1)>& compute,
           const std::function<void(int tensor, int rows)>& drop);
  RowWindow window_of(int tensor) const;
  // Most rows each windowed tensor held at once (the dry walk's result).
  const std::vector<int>& peak_rows() const { return peak_; }

 private:
  const Int8Model& m_;
  const RowGroup& g_;
  std::vector<int> start_, done_, w0_, end_;  // per tensor id
  std::vector<bool> produced_;
  std::vector<int> peak_;
  int steps_ = 0;
};

}  // namespace ecg::quant
