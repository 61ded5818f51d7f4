-- 0022_firmware_external: a firmware image's bytes may live in S3/MinIO
-- (VIBEMON_BLOB_URL) instead of here: such a row keeps an empty data
-- column and its size and digest (vibemon.FirmwareImage.External).

ALTER TABLE firmware_images DROP CONSTRAINT firmware_images_check; -- 0011's CHECK (octet_length(data) = size)
ALTER TABLE firmware_images ADD CONSTRAINT firmware_images_data_check CHECK (octet_length(data) IN (0, size));
