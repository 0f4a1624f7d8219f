// ecgcnn: one program, many subcommands (see `ecgcnn --help`). Every failure
// becomes one line on stderr: usage errors exit 2, runtime errors exit 1.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <iostream>

#include "cli_common.h"
#include "kernels/error.h"

#define ECG_COMMAND(name) void ecg_cli_##name(CLI::App& app);
#include "ecg_commands.inc"
#undef ECG_COMMAND

int main(int argc, char** argv) {
  CLI::App app{"ecgcnn: CNNs for 12-lead ECG report images, from scratch (" ECG_VERSION ")",
               "ecgcnn"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("ecgcnn ") + ECG_VERSION);
  ecg::cli::add_runtime_flags(&app);
  app.parse_complete_callback(ecg::cli::apply_global_options);
#define ECG_COMMAND(name) ecg_cli_##name(app);
#include "ecg_commands.inc"
#undef ECG_COMMAND

  // CLI11 reports an unknown subcommand as "a subcommand is required"; name it instead.
  if (argc > 1 && argv[1][0] != '-') {
    bool known = false;
    for (const CLI::App* sub : app.get_subcommands({}))
      if (sub->check_name(argv[1])) known = true;
    if (!known) {
      std::cerr << "ecgcnn: unknown subcommand '" << argv[1] << "' (see ecgcnn --help)\n";
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // One line, exit 2, whatever CLI11's own formatting would print.
    std::string msg = e.what();
    for (char& c : msg)
      if (c == '\n') c = ' ';
    std::cerr << "ecgcnn: " << msg << " (see ecgcnn --help)\n";
    return 2;
  } catch (const ecg::cli::ExitStatus& e) {
    return e.code();
  } catch (const ecg::Error& e) {
    std::cerr << "ecgcnn: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "ecgcnn: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
