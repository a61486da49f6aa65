package pack_test
