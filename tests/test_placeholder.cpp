#include <gtest/gtest.h>
#include "afx.h"
TEST(Placeholder, Builds) { EXPECT_EQ(AFX_OK, 0); }
