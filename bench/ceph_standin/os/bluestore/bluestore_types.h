// SPDX-License-Identifier: MIT
// Stand-in for Ceph's os/bluestore/bluestore_types.h: the extent types the
// allocators use (in mb_ceph_standin.h) and the helpers they include.
#pragma once
#include "mb_ceph_standin.h"
#include "include/intarith.h"
#include "include/interval_set.h"
