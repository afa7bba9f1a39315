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
