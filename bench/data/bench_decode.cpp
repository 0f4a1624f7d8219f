// Decode + resize of one real 2213x1572 ECG scan to 224x224 on one thread.
//
// Variants (all end in an 8-bit 224x224x3 image, as cv2.resize returns):
//   Full      full-size decode, INTER_AREA resize (what OpenCV does)
//   Dct4      DCT scaling 1/4 (554x393), then area: the default pipeline
//   Dct4Grey  the same in grey (1 channel)
//   FullLinearGrey  full-size grey decode + bilinear: the study's AlexNet recipe
// Run:
//   build/bench/data/bench_decode --benchmark_repetitions=5 \
//       --benchmark_report_aggregates_only=true [--ecg_image=PATH] [--ecg_dump=DIR]
// --ecg_dump writes each variant's output as DIR/<variant>.png, so that
// bench/peers/opencv_decode.py --compare DIR can report the mean absolute
// difference from OpenCV's output. The file is read into memory once; the
// timed part is decode + resize from memory (OpenCV's imread also reads the
// file each time: its peer times imdecode from memory too, to compare alike).
#include <benchmark/benchmark.h>

#include <cstring>
#include <string>
#include <vector>

#include "data/file_util.h"
#include "data/image_io.h"
#include "data/preprocess.h"

namespace {

std::string g_image = ECG_SOURCE_DIR "/../shared/data/ecg-sample/train/MI/MI(10).jpg";
std::vector<uint8_t> g_bytes;

struct Variant {
  const char* name;
  ecg::data::PreprocessOptions opts;
};

std::vector<Variant> variants() {
  using ecg::data::Interp;
  using ecg::data::PreprocessOptions;
  PreprocessOptions full = PreprocessOptions::study_resnet();
  full.dct_scaling = false;
  PreprocessOptions dct4 = PreprocessOptions::study_resnet();
  PreprocessOptions dct4g = dct4;
  dct4g.grayscale = true;
  PreprocessOptions alex = PreprocessOptions::study_alexnet();
  return {{"Full", full}, {"Dct4", dct4}, {"Dct4Grey", dct4g}, {"FullLinearGrey", alex}};
}

void BM_DecodeResize(benchmark::State& state, ecg::data::PreprocessOptions opts) {
  for (auto _ : state) {
    ecg::data::Image img = ecg::data::preprocess_memory(g_bytes.data(), g_bytes.size(), opts);
    benchmark::DoNotOptimize(img.pixels.data());
  }
  state.SetItemsProcessed(state.iterations());
}

// Decode only, at the scale the default pipeline uses, to split the time.
void BM_DecodeOnly(benchmark::State& state, int min_size) {
  ecg::data::DecodeOptions d;
  d.min_width = d.min_height = min_size;
  for (auto _ : state) {
    ecg::data::Image img = ecg::data::decode_image_memory(g_bytes.data(), g_bytes.size(), d);
    benchmark::DoNotOptimize(img.pixels.data());
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string dump;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--ecg_image=", 12) == 0)
      g_image = argv[i] + 12;
    else if (std::strncmp(argv[i], "--ecg_dump=", 11) == 0)
      dump = argv[i] + 11;
    else
      rest.push_back(argv[i]);
  }
  g_bytes = ecg::data::read_file_bytes(g_image);
  for (const Variant& v : variants()) {
    benchmark::RegisterBenchmark((std::string("DecodeResize224/") + v.name).c_str(),
                                 BM_DecodeResize, v.opts)
        ->Unit(benchmark::kMillisecond);
    if (!dump.empty())
      ecg::data::write_png(dump + "/" + v.name + ".png",
                           ecg::data::preprocess_memory(g_bytes.data(), g_bytes.size(), v.opts));
  }
  benchmark::RegisterBenchmark("DecodeOnly/Full", BM_DecodeOnly, 0)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("DecodeOnly/Dct4", BM_DecodeOnly, 224)
      ->Unit(benchmark::kMillisecond);
  int n = static_cast<int>(rest.size());
  benchmark::Initialize(&n, rest.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
