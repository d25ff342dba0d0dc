// SPDX-License-Identifier: MIT
// Stand-in for Ceph's common/config_proxy.h (see mb_ceph_standin.h).
#pragma once
#include "mb_ceph_standin.h"
