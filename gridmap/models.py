"""Models of the project package itself: the periodic jobs' heartbeat (gridmap/health.py)."""

from django.db import models


class JobHeartbeat(models.Model):
    """The last pass of one periodic-job worker process, for /healthz and the operators."""

    worker = models.CharField("作业进程", max_length=120, unique=True)
    host = models.CharField("主机", max_length=100)
    pid = models.PositiveIntegerField("进程号")
    started_at = models.DateTimeField("启动时间")
    beat_at = models.DateTimeField("最近心跳", db_index=True)
    ok_at = models.DateTimeField("最近成功", null=True, blank=True)
    passes = models.PositiveBigIntegerField("轮次", default=0)
    failures = models.PositiveBigIntegerField("失败次数", default=0)
    last_error = models.TextField("最近错误", blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "作业心跳"

    def __str__(self):
        return f"{self.worker} @ {self.beat_at:%Y-%m-%d %H:%M:%S}"
