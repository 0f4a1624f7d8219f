// The docs are true: every command marked runnable in README.md and docs/*.md
// runs as written, every repository path they name exists, every Markdown
// file they mention is in the repository, and none points outside it.
// Label `docs`: Release only (.ci/run leaves it out of the ASan stage).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/docs/doc_scan.h"
#include "tests/source_dir.h"

namespace fs = std::filesystem;
using namespace ecg::doc_test;

namespace {

// README.md and every docs/*.md, as paths relative to the repository root.
std::vector<std::string> doc_files() {
  std::vector<std::string> files{"README.md"};
  for (const auto& e : fs::directory_iterator(fs::path(ECG_SOURCE_DIR) / "docs"))
    if (e.path().extension() == ".md") files.push_back("docs/" + e.path().filename().string());
  std::sort(files.begin() + 1, files.end());
  return files;
}

std::string doc_text(const std::string& relative) {
  return read_text((fs::path(ECG_SOURCE_DIR) / relative).string());
}

// A working folder that looks like the repository root to a reader's
// commands: `build` is this build, the source folders are links, and what
// the commands write (ecg-tiny/, runs/) stays in the folder. Only the source
// folders are linked: a runs/ folder in the checkout must not receive output.
fs::path scratch_root(const std::string& name) {
  const fs::path dir =
      fs::temp_directory_path() / ("ecg_docs_" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::create_directory_symlink(ECG_BUILD_DIR, dir / "build");
  for (const char* entry :
       {"kernels", "core", "layers", "optim", "data", "models", "train", "quant", "tools", "bench",
        "tests", "docs", "cmake", ".ci", "README.md", "CMakeLists.txt"}) {
    const fs::path source = fs::path(ECG_SOURCE_DIR) / entry;
    if (fs::exists(source)) fs::create_symlink(source, dir / entry);
  }
  return dir;
}

// The file a runnable block's stdout goes to when an output block quotes it.
std::string output_file(const Block& b) {
  return "stdout_" + std::to_string(b.line) + ".txt";
}

// Whether the block after blocks[i] quotes blocks[i]'s output.
bool quoted(const std::vector<Block>& blocks, size_t i) {
  return blocks[i].runnable && i + 1 < blocks.size() && blocks[i + 1].output;
}

// One bash script of a doc's runnable blocks in order, so later blocks see
// the files earlier ones wrote; each block announces its doc and line. A
// block whose output the doc quotes also saves its stdout.
std::string script_of(const std::string& doc, const std::vector<Block>& blocks) {
  std::string script = "set -euo pipefail\n";
  for (size_t i = 0; i < blocks.size(); ++i) {
    const Block& b = blocks[i];
    if (!b.runnable) continue;
    script += "echo '== " + doc + ":" + std::to_string(b.line) + "'\n";
    if (quoted(blocks, i))
      script += "{\n" + b.text + "} > " + output_file(b) + "\ncat " + output_file(b) + "\n";
    else
      script += b.text;
  }
  return script;
}

}  // namespace

TEST(DocScan, FindsTheMarkedBlocksOnly) {
  const std::string md =
      "text\n\n<!-- runnable -->\n```sh\necho one\n```\n\n```sh\necho two\n```\n"
      "<!-- runnable -->\n\n```cpp\nint x;\n```\n";
  const std::vector<Block> blocks = fenced_blocks(md);
  ASSERT_EQ(blocks.size(), 3u);
  EXPECT_TRUE(blocks[0].runnable);
  EXPECT_EQ(blocks[0].text, "echo one\n");
  EXPECT_EQ(blocks[0].line, 4);
  EXPECT_FALSE(blocks[1].runnable);
  EXPECT_TRUE(blocks[2].runnable);
  EXPECT_EQ(blocks[2].info, "cpp");
  const std::vector<Block> quoted =
      fenced_blocks("<!-- runnable -->\n```sh\necho hi\n```\n<!-- output -->\n```text\nhi\n```\n");
  ASSERT_EQ(quoted.size(), 2u);
  EXPECT_TRUE(quoted[1].output);
  EXPECT_EQ(quoted[1].text, "hi\n");
}

TEST(DocScan, PlannedSectionsAreLeftOut) {
  const std::string md = "a core/x.h\n<!-- planned: later -->\nb core/y.h\n<!-- /planned -->\nc\n";
  EXPECT_EQ(text_without_planned(md), "a core/x.h\nc\n");
}

TEST(DocScan, FindsPathsAndOutsidePointers) {
  const std::string text =
      "See `kernels/ref/conv2d_ref.h`, docs/tour.md. and (core/ops.h) but not cpu/x.h\n"
      "or kernels/cuda/*.cuh; the notes in ../shared/design/int8.md\n";
  const std::vector<std::string> paths = repository_paths(text);
  const std::vector<std::string> want{"kernels/ref/conv2d_ref.h", "docs/tour.md", "core/ops.h"};
  EXPECT_EQ(paths, want);
  EXPECT_EQ(outside_pointers(text).size(), 1u);
  const std::vector<std::string> md = markdown_names(text);
  ASSERT_EQ(md.size(), 2u);
  EXPECT_EQ(md[1], "../shared/design/int8.md");
}

TEST(DocsTrue, EveryNamedRepositoryPathExists) {
  for (const std::string& doc : doc_files()) {
    const std::string text = text_without_blocks(text_without_planned(doc_text(doc)), "cpp");
    for (const std::string& p : repository_paths(text))
      EXPECT_TRUE(fs::exists(fs::path(ECG_SOURCE_DIR) / p)) << doc << " names " << p;
  }
}

TEST(DocsTrue, EveryMentionedMarkdownFileIsInTheRepository) {
  for (const std::string& doc : doc_files()) {
    for (const std::string& name : markdown_names(doc_text(doc))) {
      const fs::path root(ECG_SOURCE_DIR);
      const fs::path folder = (root / doc).parent_path();
      const bool found = fs::exists(root / name) || fs::exists(folder / name);
      EXPECT_TRUE(found) << doc << " mentions " << name;
    }
  }
}

TEST(DocsTrue, NothingPointsOutsideTheRepository) {
  for (const std::string& doc : doc_files())
    for (const std::string& hit : outside_pointers(doc_text(doc)))
      ADD_FAILURE() << doc << ":" << hit;
}

// The allow-list keeps out what must not run in a test: the setup script,
// the main job, GPU and board commands, package installs.
TEST(DocsTrue, RunnableBlocksStayOnTheAllowList) {
  const std::vector<std::string> forbidden{"setup.sh", "main_job", "--device cuda", "sudo",
                                           "apt-get",  "qemu-",    "nvidia-smi",    "tegrastats"};
  int runnable = 0;
  for (const std::string& doc : doc_files()) {
    for (const Block& b : fenced_blocks(doc_text(doc))) {
      if (!b.runnable) continue;
      ++runnable;
      EXPECT_EQ(b.info, "sh") << doc << ":" << b.line << " a runnable block is a sh block";
      for (const std::string& f : forbidden)
        EXPECT_EQ(b.text.find(f), std::string::npos) << doc << ":" << b.line << " runs " << f;
    }
  }
  // README's workflow and the tour are marked; fewer means the marker broke.
  EXPECT_GE(runnable, 4);
}

TEST(DocsTrue, RunnableCommandsRunAsWritten) {
  for (const std::string& doc : doc_files()) {
    const std::vector<Block> blocks = fenced_blocks(doc_text(doc));
    if (std::none_of(blocks.begin(), blocks.end(), [](const Block& b) { return b.runnable; }))
      continue;
    std::string name = doc;
    std::replace(name.begin(), name.end(), '/', '_');
    const fs::path dir = scratch_root(name);
    { std::ofstream(dir / "doc_commands.sh") << script_of(doc, blocks); }
    // The image cache goes to the scratch folder, not the user's ~/.cache.
    const std::string cmd = "cd '" + dir.string() + "' && ECG_CACHE_DIR='" + dir.string() +
                            "/cache' OMP_WAIT_POLICY=passive bash doc_commands.sh > log.txt 2>&1";
    const int status = std::system(cmd.c_str());
    EXPECT_EQ(status, 0) << doc << ": its runnable commands failed; output:\n"
                         << read_text((dir / "log.txt").string());
    if (status != 0) continue;
    for (size_t i = 0; i < blocks.size(); ++i) {
      if (!quoted(blocks, i)) continue;
      EXPECT_EQ(read_text((dir / output_file(blocks[i])).string()), blocks[i + 1].text)
          << doc << ":" << blocks[i + 1].line << " quotes output the command at line "
          << blocks[i].line << " no longer prints";
    }
    fs::remove_all(dir);
  }
}
