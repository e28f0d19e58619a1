// Small helpers shared by the examples: writing CSV files and drawing them with gnuplot when it is
// installed (Debian package gnuplot-nox or gnuplot). Nothing here is part of the library.

#ifndef NADARAYA_EXAMPLE_SUPPORT_HPP
#define NADARAYA_EXAMPLE_SUPPORT_HPP

#include <Eigen/Core>
#include <cstdio>
#include <cstdlib>  // std::system
#include <fstream>
#include <iomanip>
#include <stdexcept>
#include <string>
#include <vector>

namespace example {

/// Writes `columns` (equal lengths) under a header to `path`.
inline void write_csv(const std::string& path, const std::vector<std::string>& header,
                      const std::vector<Eigen::VectorXd>& columns) {
  std::ofstream out(path);
  if (!out) throw std::runtime_error("cannot write " + path);
  for (std::size_t c = 0; c < header.size(); ++c) out << (c ? "," : "") << header[c];
  out << "\n" << std::setprecision(10);
  for (Eigen::Index i = 0; i < columns.front().size(); ++i) {
    for (std::size_t c = 0; c < columns.size(); ++c) out << (c ? "," : "") << columns[c](i);
    out << "\n";
  }
}

/// Runs a gnuplot script if gnuplot is installed; returns whether a picture was drawn.
inline bool plot(const std::string& script_path, const std::string& script) {
  if (std::system("command -v gnuplot > /dev/null 2>&1") != 0) return false;
  {
    std::ofstream out(script_path);
    out << script;
  }
  return std::system(("gnuplot " + script_path).c_str()) == 0;
}

}  // namespace example

#endif  // NADARAYA_EXAMPLE_SUPPORT_HPP
