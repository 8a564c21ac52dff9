#include "afx.h"
int main(void) { return 0; }
