#include <libv4l2.h>
#include <linux/videodev2.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

/* ioctl is variadic and the v4l2 request macros are function-like: Swift
   imports neither, so expose them as plain functions and constants. */
static inline int skyv4l2_ioctl(int fd, unsigned long request, void *arg) {
    int r;
    do { r = v4l2_ioctl(fd, request, arg); } while (r == -1 && errno == EINTR);
    return r;
}
static const unsigned long SKY_VIDIOC_QUERYCAP = VIDIOC_QUERYCAP;
static const unsigned long SKY_VIDIOC_ENUM_FMT = VIDIOC_ENUM_FMT;
static const unsigned long SKY_VIDIOC_G_FMT = VIDIOC_G_FMT;
static const unsigned long SKY_VIDIOC_S_FMT = VIDIOC_S_FMT;
static const unsigned long SKY_VIDIOC_REQBUFS = VIDIOC_REQBUFS;
static const unsigned long SKY_VIDIOC_QUERYBUF = VIDIOC_QUERYBUF;
static const unsigned long SKY_VIDIOC_QBUF = VIDIOC_QBUF;
static const unsigned long SKY_VIDIOC_DQBUF = VIDIOC_DQBUF;
static const unsigned long SKY_VIDIOC_STREAMON = VIDIOC_STREAMON;
static const unsigned long SKY_VIDIOC_STREAMOFF = VIDIOC_STREAMOFF;
static const unsigned long SKY_VIDIOC_QUERYCTRL = VIDIOC_QUERYCTRL;
static const unsigned long SKY_VIDIOC_S_CTRL = VIDIOC_S_CTRL;
static const unsigned long SKY_VIDIOC_G_CTRL = VIDIOC_G_CTRL;
static const unsigned long SKY_VIDIOC_ENUM_FRAMESIZES = VIDIOC_ENUM_FRAMESIZES;
static const unsigned int SKY_PIX_FMT_GREY = V4L2_PIX_FMT_GREY;
static const unsigned int SKY_PIX_FMT_Y16 = V4L2_PIX_FMT_Y16;
static const unsigned int SKY_PIX_FMT_Y10 = V4L2_PIX_FMT_Y10;
static const unsigned int SKY_PIX_FMT_YUYV = V4L2_PIX_FMT_YUYV;

/* Enum values and composite macros, spelled out so Swift sees plain constants. */
static const unsigned int SKY_BUF_TYPE_VIDEO_CAPTURE = V4L2_BUF_TYPE_VIDEO_CAPTURE;
static const unsigned int SKY_MEMORY_MMAP = V4L2_MEMORY_MMAP;
static const unsigned int SKY_FIELD_ANY = V4L2_FIELD_ANY;
static const unsigned int SKY_CAP_VIDEO_CAPTURE = V4L2_CAP_VIDEO_CAPTURE;
static const unsigned int SKY_CAP_VIDEO_CAPTURE_MPLANE = V4L2_CAP_VIDEO_CAPTURE_MPLANE;
static const unsigned int SKY_CAP_META_CAPTURE = V4L2_CAP_META_CAPTURE;
static const unsigned int SKY_CAP_STREAMING = V4L2_CAP_STREAMING;
static const unsigned int SKY_CAP_DEVICE_CAPS = V4L2_CAP_DEVICE_CAPS;
static const unsigned int SKY_FMT_FLAG_EMULATED = V4L2_FMT_FLAG_EMULATED;
static const unsigned int SKY_FRMSIZE_TYPE_DISCRETE = V4L2_FRMSIZE_TYPE_DISCRETE;
static const unsigned int SKY_FRMSIZE_TYPE_CONTINUOUS = V4L2_FRMSIZE_TYPE_CONTINUOUS;
static const unsigned int SKY_FRMSIZE_TYPE_STEPWISE = V4L2_FRMSIZE_TYPE_STEPWISE;
static const unsigned int SKY_BUF_FLAG_ERROR = V4L2_BUF_FLAG_ERROR;
static const unsigned int SKY_BUF_FLAG_TIMESTAMP_MASK = V4L2_BUF_FLAG_TIMESTAMP_MASK;
static const unsigned int SKY_BUF_FLAG_TIMESTAMP_MONOTONIC = V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC;
static const unsigned int SKY_CTRL_FLAG_DISABLED = V4L2_CTRL_FLAG_DISABLED;
static const unsigned int SKY_CTRL_FLAG_INACTIVE = V4L2_CTRL_FLAG_INACTIVE;
static const unsigned int SKY_CTRL_FLAG_READ_ONLY = V4L2_CTRL_FLAG_READ_ONLY;
static const unsigned int SKY_CTRL_FLAG_WRITE_ONLY = V4L2_CTRL_FLAG_WRITE_ONLY;
static const unsigned int SKY_CTRL_FLAG_NEXT_CTRL = V4L2_CTRL_FLAG_NEXT_CTRL;
static const unsigned int SKY_CTRL_TYPE_INTEGER = V4L2_CTRL_TYPE_INTEGER;
static const unsigned int SKY_CTRL_TYPE_BOOLEAN = V4L2_CTRL_TYPE_BOOLEAN;
static const unsigned int SKY_CTRL_TYPE_MENU = V4L2_CTRL_TYPE_MENU;
static const unsigned int SKY_CTRL_TYPE_INTEGER_MENU = V4L2_CTRL_TYPE_INTEGER_MENU;
static const unsigned int SKY_CTRL_TYPE_BUTTON = V4L2_CTRL_TYPE_BUTTON;
static const unsigned int SKY_CTRL_TYPE_CTRL_CLASS = V4L2_CTRL_TYPE_CTRL_CLASS;
static const unsigned int SKY_CID_EXPOSURE_AUTO = V4L2_CID_EXPOSURE_AUTO;
static const int SKY_EXPOSURE_MANUAL = V4L2_EXPOSURE_MANUAL;
static const unsigned int SKY_CID_EXPOSURE_ABSOLUTE = V4L2_CID_EXPOSURE_ABSOLUTE;
static const unsigned int SKY_CID_GAIN = V4L2_CID_GAIN;
