// Instruction-set detection and the process-wide choice of kernel family.
#pragma once
#include <string>
#include <vector>

namespace cg {

enum class Isa : int { scalar = 0, avx2 = 1, avx512 = 2 };

const char* isa_name(Isa isa);
// Parses "scalar" | "avx2" | "avx512"; returns false for any other name.
bool parse_isa(const std::string& name, Isa* out);
// True when the ISA's kernels are compiled in and the CPU and OS can run them.
bool isa_supported(Isa isa);
std::vector<Isa> available_isas();  // best first
Isa current_isa();
// Throws std::invalid_argument for an ISA this machine or build cannot run.
void set_isa(Isa isa);
// Chooses the best ISA, or the one named by CONVERGENT_ISA (throws std::invalid_argument if bad).
void init_isa_from_env();

}  // namespace cg
