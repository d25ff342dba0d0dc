// SPDX-License-Identifier: MIT
// Stand-in for Ceph's include/mempool.h (see mb_ceph_standin.h).
#pragma once
#include "mb_ceph_standin.h"
