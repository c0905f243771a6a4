// Dispatched kernel tables: one line per kernel family.
#include "common/dispatch.h"

#include "nn/conv_kernels.h"
#include "nn/embedding_kernels.h"
#include "nn/kernels.h"
#include "nn/pool_kernels.h"
#include "nn/rnn_kernels.h"
#include "optim/adam_family_kernels.h"
#include "optim/classic_kernels.h"
#include "optim/factormuon_kernels.h"
#include "optim/kernels.h"
#include "optim/lionsf_kernels.h"

namespace cg {

CG_DISPATCH_TABLE(OptimKernels, optim_kernels)
CG_DISPATCH_TABLE(NnKernels, nn_kernels)
CG_DISPATCH_TABLE(AdamFamilyKernels, adam_family_kernels)
CG_DISPATCH_TABLE(LionSfKernels, lionsf_kernels)
CG_DISPATCH_TABLE(ClassicKernels, classic_kernels)
CG_DISPATCH_TABLE(FactorMuonKernels, factormuon_kernels)
CG_DISPATCH_TABLE(PoolKernels, pool_kernels)
CG_DISPATCH_TABLE(ConvKernels, conv_kernels)
CG_DISPATCH_TABLE(EmbeddingKernels, embedding_kernels)
CG_DISPATCH_TABLE(RnnKernels, rnn_kernels)

}  // namespace cg
