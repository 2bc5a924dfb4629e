# Run by cmake --install: writes tunbatch.pc for CMAKE_INSTALL_PREFIX, which
# here is the prefix being installed into. TB_PC_IN, TB_PC_OUT, TB_LIBDIR,
# TB_INCLUDEDIR and PROJECT_VERSION are set by the install rule before it.
foreach(dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${TB_${dir}}")
    set(TB_PC_${dir} "${TB_${dir}}")
  else()
    set(TB_PC_${dir} "\${prefix}/${TB_${dir}}")
  endif()
endforeach()
set(TB_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
configure_file("${TB_PC_IN}" "${TB_PC_OUT}" @ONLY)
