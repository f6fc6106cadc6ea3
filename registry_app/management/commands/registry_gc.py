from django.core.management.base import BaseCommand

from registry_app.services.collection import do_collect_garbage


class Command(BaseCommand):
    help = (
        "Remove registry blobs no manifest references and uploads abandoned for a day; "
        "blobs linked or written in the last hour are kept for pushes in progress."
    )

    def handle(self, *args, **options):
        report = do_collect_garbage()
        self.stdout.write(
            f"removed {report.blobs_removed} blobs and {report.uploads_removed} uploads, "
            f"freed {report.bytes_freed} bytes"
        )
