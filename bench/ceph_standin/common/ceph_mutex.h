// SPDX-License-Identifier: MIT
// Stand-in for Ceph's common/ceph_mutex.h (see mb_ceph_standin.h).
#pragma once
#include "mb_ceph_standin.h"
